package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// opsDocPath is the operations guide whose examples TestOperationsDocExamples runs.
const opsDocPath = "../../docs/operations.md"

// mdBlock is one fenced block of a Markdown file.
type mdBlock struct {
	line     int    // the line of its first content line
	lang     string // the info string: sh, text, yaml, …
	text     string
	adjacent bool // only blank lines separate it from the block before
}

// opsExample is a documented command and the output documented after it.
type opsExample struct {
	line          int
	command, want string
}

// TestOperationsDocExamples runs the examples of docs/operations.md against
// the real binary, so that the guide cannot drift from the program.
//
// An example is a ```sh block holding one command (backslash-continued
// lines joined) immediately followed, with only blank lines between, by a
// ```text or ```json block: its output. Other ```sh blocks are illustrations
// and are not run. Every ```yaml block must be a valid configuration
// (config.ParseFile); one whose first line is "# NAME.yaml" is written to
// NAME.yaml in the directory the examples run in. The examples run in
// document order, in one temporary directory:
//
//   - `sluice serve ARGS` starts the binary (startServe) with the
//     listeners on ports of the system's choosing; the documented output
//     lists lines that must each appear, whole and in that order, among the
//     lines the process has printed (its log also has lines with
//     timestamps, which the guide does not show);
//   - `sluice COMMAND ARGS` runs to completion and must exit 0; what it
//     printed (stdout, then stderr) must equal the documented output;
//   - `curl` (the options -s, -o /dev/null, -w with %{http_code} and \n,
//     -X, -H, -d, and an optional `| grep 'PATTERN'` whose pattern is
//     literal text, optionally anchored with ^) is sent to the server
//     started before; its output (the body unless -o /dev/null, then what
//     -w prints, filtered by grep) must equal the documented output.
//
// "Equal" compares lines exactly, ignoring only trailing newlines. In
// commands and documented outputs, the documented addresses 127.0.0.1:8080,
// :8081 and :8082 (and localhost:8080) stand for the HTTP, gRPC and admin
// listeners of the started server. Anything else in an example fails the
// test rather than being skipped.
func TestOperationsDocExamples(t *testing.T) {
	blocks := readMarkdownBlocks(t, opsDocPath)
	dir := t.TempDir()
	var examples []opsExample
	for i, b := range blocks {
		switch {
		case b.lang == "yaml":
			name := fmt.Sprintf("docs/operations.md:%d", b.line)
			if _, err := config.ParseFile(name, []byte(b.text)); err != nil {
				t.Errorf("%s: the configuration is not valid: %v", name, err)
			}
			first, _, _ := strings.Cut(b.text, "\n")
			if file, ok := strings.CutPrefix(first, "# "); ok && strings.HasSuffix(file, ".yaml") && !strings.ContainsAny(file, `/\ `) {
				writeConfig(t, dir, file, b.text)
			}
		case b.lang == "sh" && i+1 < len(blocks) && blocks[i+1].adjacent && (blocks[i+1].lang == "text" || blocks[i+1].lang == "json"):
			examples = append(examples, opsExample{line: b.line, command: strings.TrimSpace(strings.ReplaceAll(b.text, "\\\n", " ")), want: blocks[i+1].text})
		}
	}
	var p *proc
	var ports *strings.Replacer
	seen := map[string]bool{}
	for _, ex := range examples {
		name := fmt.Sprintf("docs/operations.md:%d", ex.line)
		if strings.Contains(ex.command, "\n") {
			t.Fatalf("%s: an example holds one command: %q", name, ex.command)
		}
		if ports != nil {
			ex.command, ex.want = ports.Replace(ex.command), ports.Replace(ex.want)
		}
		words, err := shellSplit(ex.command)
		if err != nil || len(words) < 2 {
			t.Fatalf("%s: cannot run %q: %v", name, ex.command, err)
		}
		switch {
		case words[0] == "sluice" && words[1] == "serve":
			if p != nil {
				t.Fatalf("%s: a second sluice serve", name)
			}
			p = startServe(t, dir, loopbackEnv, words[2:]...)
			ports = strings.NewReplacer("127.0.0.1:8080", p.http, "127.0.0.1:8081", p.grpc, "127.0.0.1:8082", p.admin,
				"localhost:8080", "localhost:"+portOf(t, p.http))
			ex.want = ports.Replace(ex.want)
			if !linesInOrder(ex.want, p.out.String()) {
				t.Errorf("%s: sluice serve did not print the documented lines\ndocumented:\n%s\nprinted:\n%s", name, ex.want, p.out.String())
			}
			seen["sluice serve"] = true
		case words[0] == "sluice":
			code, stdout, stderr := runSluice(t, dir, nil, words[1:]...)
			if code != 0 {
				t.Errorf("%s: %s: exit %d\n%s%s", name, ex.command, code, stdout, stderr)
			}
			checkOutput(t, name, ex.want, stdout+stderr)
			seen["sluice "+words[1]] = true
		case words[0] == "curl":
			if p == nil {
				t.Fatalf("%s: a curl example before sluice serve started", name)
			}
			got, path, err := runCurl(p, words[1:])
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			checkOutput(t, name, ex.want, got)
			seen[path] = true
		default:
			t.Fatalf("%s: the test cannot run %q", name, ex.command)
		}
	}
	for _, want := range []string{"sluice check", "sluice serve", "sluice migrate", "/healthz", "/readyz", "/metrics", "/v1/limit"} {
		if !seen[want] {
			t.Errorf("docs/operations.md has no tested example of %s", want)
		}
	}
}

// readMarkdownBlocks returns the fenced blocks of a Markdown file.
func readMarkdownBlocks(t *testing.T, path string) []mdBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out      []mdBlock
		cur      *mdBlock
		body     []string
		adjacent bool // nothing but blank lines since the last block ended
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur, body = &mdBlock{line: n + 1, lang: strings.TrimPrefix(line, "```"), adjacent: adjacent}, nil
		case cur != nil && line == "```":
			cur.text = strings.Join(body, "\n") + "\n"
			out = append(out, *cur)
			cur, adjacent = nil, true
		case cur != nil:
			body = append(body, line)
		case strings.TrimSpace(line) != "":
			adjacent = false
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s:%d: unterminated code block", path, cur.line-1)
	}
	return out
}

// runCurl sends the request of a curl command line (without "curl") to p
// and returns what curl would print, and the request's path.
func runCurl(p *proc, args []string) (out, path string, err error) {
	var (
		method, target, body, format, grep string
		discard, hasBody, hasGrep          bool
		header                             []string
	)
	for i := 0; i < len(args); i++ {
		w := args[i]
		value := func() string {
			if i+1 >= len(args) {
				err = fmt.Errorf("curl %s needs a value", w)
				return ""
			}
			i++
			return args[i]
		}
		switch {
		case w == "-s":
		case w == "-o":
			if value() != "/dev/null" {
				err = fmt.Errorf("curl -o: only /dev/null is understood")
			}
			discard = true
		case w == "-w":
			format = value()
		case w == "-X":
			method = value()
		case w == "-H":
			k, v, ok := strings.Cut(value(), ":")
			if !ok {
				err = fmt.Errorf("curl -H %q: no ':'", k)
			}
			header = append(header, strings.TrimSpace(k), strings.TrimSpace(v))
		case w == "-d":
			body, hasBody = value(), true
		case w == "|" && i+3 == len(args) && args[i+1] == "grep":
			grep, hasGrep, i = args[i+2], true, len(args)
		case strings.HasPrefix(w, "http://") && target == "":
			target = w
		default:
			err = fmt.Errorf("curl: %q is not understood by the test", w)
		}
		if err != nil {
			return "", "", err
		}
	}
	if target == "" {
		return "", "", fmt.Errorf("curl: no URL")
	}
	if method == "" {
		method = map[bool]string{true: "POST", false: "GET"}[hasBody]
	}
	resp, b := p.do(method, target, body, header...)
	if !discard {
		out = string(b)
	}
	out += strings.NewReplacer(`%{http_code}`, strconv.Itoa(resp.StatusCode), `\n`, "\n").Replace(format)
	if hasGrep {
		anchored := strings.HasPrefix(grep, "^")
		lit := strings.TrimPrefix(grep, "^")
		if lit == "" || strings.ContainsAny(lit, `.[]*+?$\|(){}^`) {
			return "", "", fmt.Errorf("grep %q: only literal text, optionally after ^, is understood", grep)
		}
		var kept []string
		for l := range strings.Lines(out) {
			if anchored && strings.HasPrefix(l, lit) || !anchored && strings.Contains(l, lit) {
				kept = append(kept, l)
			}
		}
		out = strings.Join(kept, "")
	}
	return out, resp.Request.URL.Path, nil
}

// shellSplit splits a command line into words as a shell would for the
// subset the guide uses: single and double quotes (no expansion), and "|"
// as a word of its own. Other shell syntax is an error.
func shellSplit(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case c == '\'' || c == '"':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unterminated %c", c)
			}
			if c == '"' && strings.ContainsAny(s[i+1:i+1+end], "$`\\") {
				return nil, fmt.Errorf("expansion inside double quotes is not understood")
			}
			cur.WriteString(s[i+1 : i+1+end])
			inWord, i = true, i+1+end
		case strings.IndexByte("$`\\;&<>(){}*?[]#~", c) >= 0:
			return nil, fmt.Errorf("shell syntax %q is not understood", c)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// checkOutput fails the test unless got is the documented output, line for
// line (trailing newlines aside).
func checkOutput(t *testing.T, name, want, got string) {
	t.Helper()
	if !slices.Equal(outputLines(want), outputLines(got)) {
		t.Errorf("%s: the output differs from the guide\ndocumented:\n%s\nactual:\n%s", name, want, got)
	}
}

// linesInOrder reports whether every line of want is a whole line of got,
// in the same order.
func linesInOrder(want, got string) bool {
	have := outputLines(got)
	for _, w := range outputLines(want) {
		i := slices.Index(have, w)
		if i < 0 {
			return false
		}
		have = have[i+1:]
	}
	return true
}

func outputLines(s string) []string {
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}

// portOf returns the port of a host:port address.
func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}
