package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/rules"
)

// docsPath is the API documentation whose examples TestDocsExamples runs.
const docsPath = "../../docs/api.md"

// docsSection is the heading of the section whose examples are run.
const docsSection = "## Decision API"

// docsBase is the server the examples address.
const docsBase = "http://127.0.0.1:8080"

// docExample is one documented curl command and the response documented
// after it.
type docExample struct {
	line     int    // where the command starts in the file
	command  string // the shell text, continuation lines joined
	response string // the http block: status line, headers, blank line, body
}

// TestDocsExamples runs every curl example of the Decision API section of
// docs/api.md, in order, against an httptest server (memory store, fixed
// clock, the rules the section describes) and checks the documented
// status, headers and body (a subset of the actual one): the docs cannot
// drift from the API.
func TestDocsExamples(t *testing.T) {
	examples := readExamples(t, docsPath, docsSection)
	if len(examples) < 12 {
		t.Fatalf("found %d curl examples in the %q section of %s; expected every endpoint's", len(examples), docsSection, docsPath)
	}
	docRules := []rules.Rule{
		{ID: "0190b1c2-7e4a-7c3d-9f00-6b1d2e3f4a5b", KeyType: rules.KeyUserID, KeyValue: "*", Limit: 3, WindowSeconds: 60, Enabled: true},
		{ID: "0190b1c2-7e4a-7c3d-9f00-6b1d2e3f4a5c", KeyType: rules.KeyIP, KeyValue: "10.0.0.0/8", Limit: 1, WindowSeconds: 60, Enabled: true, Shadow: true},
	}
	e := newEnv(t, withResolver(newResolver(t, docRules, nil, false)))
	seen := map[string]bool{}
	for _, ex := range examples {
		name := fmt.Sprintf("%s:%d", filepath.Base(docsPath), ex.line)
		req, err := curlRequest(ex.command, e.srv.URL)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		seen[req.Method+" "+req.URL.Path] = true
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkResponse(t, name, ex.response, resp, body)
	}
	for _, ep := range []string{"POST /v1/limit", "POST /v1/limit/batch", "GET /v1/limit", "POST /v1/reset", "POST /v1/rules/check"} {
		if !seen[ep] {
			t.Errorf("%s has no example of %s", docsPath, ep)
		}
	}
}

// readExamples returns the curl examples of the section starting at the
// heading (up to the next heading of the same level), each with the http
// block that follows it.
func readExamples(t *testing.T, path, heading string) []docExample {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out         []docExample
		in, inBlock bool
		lang        string
		block       []string
		start, n    int
		pending     *docExample
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		if !inBlock && strings.HasPrefix(line, "## ") {
			in = line == heading
			continue
		}
		if !in {
			continue
		}
		if strings.HasPrefix(line, "```") {
			if !inBlock {
				inBlock, lang, block, start = true, strings.TrimPrefix(line, "```"), nil, n+1
				continue
			}
			inBlock = false
			text := strings.Join(block, "\n")
			switch {
			case lang == "sh" && strings.HasPrefix(strings.TrimSpace(text), "curl "):
				if pending != nil {
					t.Fatalf("%s:%d: curl example without a documented response", path, pending.line)
				}
				pending = &docExample{line: start, command: strings.ReplaceAll(text, "\\\n", " ")}
			case lang == "http" && pending != nil:
				pending.response = text
				out = append(out, *pending)
				pending = nil
			}
			continue
		}
		if inBlock {
			block = append(block, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if pending != nil {
		t.Fatalf("%s:%d: curl example without a documented response", path, pending.line)
	}
	return out
}

// curlRequest turns a command `curl -s [-X METHOD] [-H 'K: V']... [-d 'body'] URL`
// into a request to base.
func curlRequest(command, base string) (*http.Request, error) {
	words, err := shellWords(command)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 || words[0] != "curl" {
		return nil, fmt.Errorf("not a curl command: %q", command)
	}
	var (
		method, target, body string
		hasBody              bool
		headers              = http.Header{}
	)
	for i := 1; i < len(words); i++ {
		w := words[i]
		next := func() (string, error) {
			if i+1 >= len(words) {
				return "", fmt.Errorf("%s needs a value", w)
			}
			i++
			return words[i], nil
		}
		switch {
		case w == "-s" || w == "-sS" || w == "-i":
		case w == "-X":
			if method, err = next(); err != nil {
				return nil, err
			}
		case w == "-H":
			h, err := next()
			if err != nil {
				return nil, err
			}
			k, v, ok := strings.Cut(h, ":")
			if !ok {
				return nil, fmt.Errorf("header %q has no ':'", h)
			}
			headers.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case w == "-d":
			if body, err = next(); err != nil {
				return nil, err
			}
			hasBody = true
		case strings.HasPrefix(w, docsBase):
			target = base + strings.TrimPrefix(w, docsBase)
		default:
			return nil, fmt.Errorf("curl option %q is not understood by the docs test", w)
		}
	}
	if target == "" {
		return nil, fmt.Errorf("no %s URL in %q", docsBase, command)
	}
	if method == "" {
		method = http.MethodGet
		if hasBody {
			method = http.MethodPost
		}
	}
	if hasBody && headers.Get("Content-Type") == "" {
		headers.Set("Content-Type", "application/x-www-form-urlencoded") // as curl -d does
	}
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = headers
	return req, nil
}

// shellWords splits a command line as a POSIX shell would for the subset
// the docs use: single quotes, double quotes (without expansion) and
// backslash escapes.
func shellWords(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
			i++
		case c == '\'' || c == '"':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unterminated %c in %q", c, s)
			}
			cur.WriteString(s[i+1 : i+1+end])
			inWord, i = true, i+end+2
		case c == '$':
			return nil, fmt.Errorf("the docs test does not expand shell variables: %q", s)
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(s[i+1])
			inWord, i = true, i+2
		default:
			cur.WriteByte(c)
			inWord, i = true, i+1
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// checkResponse compares a response with the documented one: the status
// line, the documented headers, and the documented body as a subset of
// the actual one.
func checkResponse(t *testing.T, name, doc string, resp *http.Response, body []byte) {
	t.Helper()
	head, docBody, _ := strings.Cut(doc, "\n\n")
	lines := strings.Split(head, "\n")
	proto, status, _ := strings.Cut(lines[0], " ")
	code, text, _ := strings.Cut(status, " ")
	want, err := strconv.Atoi(code)
	if proto != "HTTP/1.1" || err != nil || http.StatusText(want) != text {
		t.Errorf("%s: documented status line %q is not like \"HTTP/1.1 200 OK\"", name, lines[0])
		return
	}
	if resp.StatusCode != want {
		t.Errorf("%s: status %d, documented %d; body %s", name, resp.StatusCode, want, body)
		return
	}
	for _, h := range lines[1:] {
		k, v, _ := strings.Cut(h, ":")
		v = strings.TrimSpace(v)
		got := resp.Header.Get(k)
		if http.CanonicalHeaderKey(k) == "Content-Type" {
			got, _, _ = mime.ParseMediaType(got)
		}
		if got != v {
			t.Errorf("%s: %s %q, documented %q", name, k, got, v)
		}
	}
	if strings.TrimSpace(docBody) == "" {
		return
	}
	var wantBody, gotBody any
	if err := json.Unmarshal([]byte(docBody), &wantBody); err != nil {
		t.Errorf("%s: documented body is not JSON: %v", name, err)
		return
	}
	if err := json.Unmarshal(body, &gotBody); err != nil {
		t.Errorf("%s: body is not JSON: %v: %s", name, err, body)
		return
	}
	if path, ok := subset(wantBody, gotBody, "body"); !ok {
		t.Errorf("%s: %s differs from the docs\n got: %s\ndocs: %s", name, path, body, docBody)
	}
}

// subset reports whether doc is part of got: objects by their documented
// keys, arrays by their documented first elements, other values equal. It
// returns the path of the first difference.
func subset(doc, got any, path string) (string, bool) {
	switch d := doc.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return path, false
		}
		for k, dv := range d {
			gv, ok := g[k]
			if !ok {
				return path + "." + k + " (missing)", false
			}
			if p, ok := subset(dv, gv, path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) < len(d) {
			return path, false
		}
		for i := range d {
			if p, ok := subset(d[i], g[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
		return "", true
	}
	return path, reflect.DeepEqual(doc, got)
}

// TestReadmeExample runs the curl example of the README's "Try it" section
// and then the same call twice more: the documented first answer, then 200,
// then the 429 with ERROR_RATE_LIMIT that the README promises.
func TestReadmeExample(t *testing.T) {
	const readme = "../../README.md"
	examples := readExamples(t, readme, "## Try it")
	if len(examples) != 1 {
		t.Fatalf("found %d curl examples in the README's Try it section, want 1", len(examples))
	}
	e := newEnv(t)
	ex := examples[0]
	var last *http.Response
	var body []byte
	for i := range 3 {
		req, err := curlRequest(ex.command, e.srv.URL)
		if err != nil {
			t.Fatalf("README.md:%d: %v", ex.line, err)
		}
		if last, err = e.srv.Client().Do(req); err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(last.Body)
		last.Body.Close()
		if i == 0 {
			checkResponse(t, fmt.Sprintf("README.md:%d", ex.line), ex.response, last, body)
		}
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"error":"ERROR_RATE_LIMIT"`) {
		t.Fatalf("third call: %d %s, want 429 with Retry-After and ERROR_RATE_LIMIT", last.StatusCode, body)
	}
}
