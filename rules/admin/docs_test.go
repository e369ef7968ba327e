package admin_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// docsPath is the API documentation whose examples TestDocsExamples runs.
const docsPath = "../../docs/api.md"

// docExample is one documented curl command and the response documented
// after it.
type docExample struct {
	line     int    // where the command starts in the file
	command  string // the shell text, continuation lines joined
	response string // the http block: status line, headers, blank line, body
}

// TestDocsExamples runs every curl example of the admin API section of
// docs/api.md, in order, against an httptest server with a real SQLite
// repository, and checks the documented status, headers and body: the
// docs cannot drift from the API.
func TestDocsExamples(t *testing.T) {
	examples := readExamples(t, docsPath, "## Admin API: /api/rate-rules")
	if len(examples) < 15 {
		t.Fatalf("found %d curl examples in %s, expected the admin API's examples", len(examples), docsPath)
	}
	srv := httptest.NewServer(newAPI(t, openRepo(t, filepath.Join(t.TempDir(), "rules.db")), nil))
	defer srv.Close()
	vars := map[string]string{"SLUICE_TOKEN": opsSecret, "RO_TOKEN": viewerSecret}
	for _, ex := range examples {
		name := fmt.Sprintf("%s:%d", filepath.Base(docsPath), ex.line)
		req, err := curlRequest(ex.command, vars, srv.URL)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkResponse(t, name, ex.response, resp, body)
		if resp.StatusCode == http.StatusCreated && vars["RULE_ID"] == "" {
			var created struct{ ID string }
			if err := json.Unmarshal(body, &created); err != nil || created.ID == "" {
				t.Fatalf("%s: created rule without id: %s", name, body)
			}
			vars["RULE_ID"] = created.ID
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
	level := heading[:strings.IndexByte(heading, ' ')+1]
	var (
		out          []docExample
		in, inBlock  bool
		lang         string
		block        []string
		start, lineN int
		pending      *docExample
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lineN++
		line := sc.Text()
		if !inBlock && strings.HasPrefix(line, "#") {
			switch {
			case line == heading:
				in = true
			case in && strings.HasPrefix(line, level):
				in = false
			}
			continue
		}
		if !in {
			continue
		}
		if strings.HasPrefix(line, "```") {
			if !inBlock {
				inBlock, lang, block, start = true, strings.TrimPrefix(line, "```"), nil, lineN+1
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

// curlRequest turns a curl command line into a request to base, expanding
// the shell variables in vars as a POSIX shell would.
func curlRequest(command string, vars map[string]string, base string) (*http.Request, error) {
	words, err := shellWords(command, vars)
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
		case w == "-s" || w == "-S" || w == "-sS" || w == "-i" || w == "--silent" || w == "--show-error":
		case w == "-X" || w == "--request":
			if method, err = next(); err != nil {
				return nil, err
			}
		case w == "-H" || w == "--header":
			h, err := next()
			if err != nil {
				return nil, err
			}
			k, v, ok := strings.Cut(h, ":")
			if !ok {
				return nil, fmt.Errorf("header %q has no ':'", h)
			}
			headers.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case w == "-d" || w == "--data" || w == "--data-raw" || w == "--data-binary":
			if body, err = next(); err != nil {
				return nil, err
			}
			hasBody = true
		case strings.HasPrefix(w, "http://localhost:8082"):
			target = base + strings.TrimPrefix(w, "http://localhost:8082")
		default:
			return nil, fmt.Errorf("curl option %q is not understood by the docs test", w)
		}
	}
	if target == "" {
		return nil, fmt.Errorf("no http://localhost:8082 URL in %q", command)
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

// shellWords splits a command line into words as a POSIX shell would for
// the subset the docs use: single quotes, double quotes, backslash escapes
// and $NAME or ${NAME} expansion (not in single quotes).
func shellWords(s string, vars map[string]string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	expand := func(i int) (int, error) { // s[i] == '$'
		j := i + 1
		braced := j < len(s) && s[j] == '{'
		if braced {
			j++
		}
		k := j
		for k < len(s) && (s[k] == '_' || s[k] >= 'A' && s[k] <= 'Z' || s[k] >= 'a' && s[k] <= 'z' || s[k] >= '0' && s[k] <= '9') {
			k++
		}
		name := s[j:k]
		if braced {
			if k >= len(s) || s[k] != '}' {
				return 0, fmt.Errorf("unterminated ${ in %q", s)
			}
			k++
		}
		v, ok := vars[name]
		if !ok {
			return 0, fmt.Errorf("the docs use $%s, which the docs test does not define", name)
		}
		cur.WriteString(v)
		return k, nil
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
			i++
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+end])
			inWord, i = true, i+end+2
		case c == '"':
			inWord = true
			i++
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("unterminated \" in %q", s)
				}
				if s[i] == '"' {
					i++
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`"\$`, s[i+1]) >= 0 {
					cur.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '$' {
					var err error
					if i, err = expand(i); err != nil {
						return nil, err
					}
					continue
				}
				cur.WriteByte(s[i])
				i++
			}
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(s[i+1])
			inWord, i = true, i+2
		case c == '$':
			var err error
			if i, err = expand(i); err != nil {
				return nil, err
			}
			inWord = true
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
// the actual one (ids and timestamps only need to be present).
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
		switch http.CanonicalHeaderKey(k) {
		case "Content-Type":
			mt, _, _ := mime.ParseMediaType(got)
			if mt != v {
				t.Errorf("%s: Content-Type %q, documented %q", name, got, v)
			}
		case "Location":
			if !strings.HasPrefix(got, "/api/rate-rules/") {
				t.Errorf("%s: Location %q", name, got)
			}
		default:
			if got != v {
				t.Errorf("%s: %s %q, documented %q", name, k, got, v)
			}
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

// volatile reports whether a field differs on every run, so that the
// docs' value is only an example.
func volatile(field string) bool {
	switch field {
	case "id", "rule_id", "at", "created_at", "updated_at":
		return true
	}
	return false
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
			if volatile(k) {
				continue
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
