package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/sluicehq/sluice/config"
)

const checkUsage = `Usage: sluice check [--no-env] [FILE]

Validate a configuration file as 'sluice serve' would load it, printing
every problem with its line, such as

  sluice.yaml:12: store.timeout: "fast" is not a duration (e.g. 50ms)

FILE defaults to --config, $SLUICE_CONFIG, else ./sluice.yaml. The
SLUICE_<SECTION>_<FIELD> variables apply, and the variables admin tokens
name must be set, unless --no-env is given (to check a file where it is
written rather than where it runs).
Exit status: 0 valid, 1 invalid, 2 bad usage.

Flags:
`

// runCheck is `sluice check`.
func runCheck(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "the configuration `file` (the same as the FILE argument)")
	noEnv := fs.Bool("no-env", false, "validate the file alone, ignoring the environment")
	fs.Usage = func() { fmt.Fprint(fs.Output(), checkUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		return 2
	}
	switch {
	case fs.NArg() > 1, fs.NArg() == 1 && *path != "":
		fmt.Fprintln(stderr, "sluice check: give one configuration file")
		return 2
	case fs.NArg() == 1:
		*path = fs.Arg(0)
	}
	env := config.OSEnv()
	file := configFile(*path, env)
	if file == "" {
		fmt.Fprintf(stderr, "sluice check: no configuration file: give one (sluice check sluice.yaml), or set $%s\n", ConfigEnv)
		return 2
	}
	var cfg *config.Config
	var err error
	if *noEnv {
		cfg, err = config.LoadFile(file)
	} else {
		cfg, err = config.Load(file, env)
	}
	var ps config.Problems
	switch {
	case errors.As(err, &ps):
		for _, p := range ps {
			fmt.Fprintln(stderr, p.Error())
		}
		fmt.Fprintf(stderr, "%s: %d problem%s\n", file, len(ps), plural(len(ps)))
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "sluice check: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid (store %s, rules %s, %d polic%s, %d route%s, %d Envoy domain%s)\n",
		file, cfg.Store.StoreType(), redactDSN(cfg.Rules.Database),
		len(cfg.Policies), map[bool]string{true: "y", false: "ies"}[len(cfg.Policies) == 1],
		len(cfg.Routes), plural(len(cfg.Routes)), len(cfg.Envoy.Domains), plural(len(cfg.Envoy.Domains)))
	return 0
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
