// Command sluice is the one Sluice binary: the rate-limit decision service
// and gateway, and the tools to manage its rules.
//
//	sluice serve [--config FILE]
//	sluice check [--no-env] [FILE]
//	sluice rules list|get|add|update|delete|audit [flags]
//	sluice migrate [--db DSN]
//	sluice version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluicehq/sluice/rules/cli"
)

// command is one subcommand: it runs with the arguments after its name and
// returns the exit code (0 success, 1 failure, 2 bad input).
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands; adding one is one line here.
func commands() []command {
	return []command{
		{"serve", "run the rate-limit service (HTTP, gRPC, Envoy RLS, admin API)", runServe},
		{"check", "validate a configuration file, printing every problem with its line", runCheck},
		{"rules", "manage the rate-limit rules", cli.Run},
		{"migrate", "create or upgrade the rules database", cli.Migrate},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, which starts a graceful stop, a second one
		// has its default effect: the process ends at once.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches args to a subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return cli.ExitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return cli.ExitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "sluice: unknown command %q\n\n", args[0])
	usage(stderr)
	return cli.ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: sluice <command> [arguments]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'sluice <command> -h' for the arguments of a command.")
}
