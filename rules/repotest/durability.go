package repotest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/rules"
)

// RunReopen checks that rules and their audit entries survive closing and
// reopening the repository. open must return a repository over the same
// database every time it is called.
func RunReopen(t *testing.T, open func(t *testing.T) rules.Repository) {
	t.Helper()
	r := open(t)
	created := mustCreate(t, r, sample(1))
	updated, err := r.Update(ctx(t), created.ID, rules.Patch{Limit: ptr(int64(42))}, "bob")
	if err != nil {
		t.Fatal(err)
	}
	deleted := mustCreate(t, r, sample(2))
	if err := r.Delete(ctx(t), deleted.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	r = open(t)
	defer r.Close()
	expectRule(t, "rule after reopening", mustGet(t, r, created.ID), updated)
	if _, err := r.Get(ctx(t), deleted.ID); !isNotFound(err) {
		t.Errorf("deleted rule after reopening: %v, want ErrNotFound", err)
	}
	if n := len(mustAudit(t, r, "")); n != 4 {
		t.Errorf("%d audit entries after reopening, want 4", n)
	}
}

// Environment of the child process RunCrash starts.
const (
	envCrashChild = "SLUICE_REPOTEST_CRASH_DSN"
	ackPrefix     = "ACK "
)

// RunCrash checks that every write a repository acknowledged survives the
// writer being killed with SIGKILL while writes are in flight. It re-runs
// the calling test in a child process (the test binary, with -test.run
// selecting this test) that creates rules from several goroutines and
// prints the id of each as soon as Create returns; after about a second
// the parent kills the child, reopens the database, and checks that every
// printed id is there.
//
// setup prepares an empty database and returns its DSN; it runs in the
// parent only. open opens (and, if needed, migrates) the database at a DSN;
// it runs in both. Call RunCrash directly from a test function: in the
// child, RunCrash never returns.
func RunCrash(t *testing.T, setup func(t *testing.T) string, open func(t *testing.T, dsn string) rules.Repository) {
	t.Helper()
	if dsn := os.Getenv(envCrashChild); dsn != "" {
		crashChild(t, open(t, dsn))
		return
	}
	dsn := setup(t)
	// The parent migrates, so the child only writes.
	if err := open(t, dsn).Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run="+runPattern(t.Name()), "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), envCrashChild+"="+dsn)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the writer process: %v", err)
	}

	var mu sync.Mutex
	var acked []string
	var other []string
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			if id, ok := strings.CutPrefix(line, ackPrefix); ok {
				acked = append(acked, id)
			} else {
				other = append(other, line)
			}
			mu.Unlock()
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }

	// Let writes flow for a second (longer if the child is slow to start).
	start := time.Now()
	for time.Since(start) < time.Second || (count() < 20 && time.Since(start) < 30*time.Second) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatalf("kill the writer: %v", err)
	}
	<-readDone // every line written before the kill
	_ = cmd.Wait()
	if len(acked) < 20 {
		t.Fatalf("the writer acknowledged only %d writes before it was killed; its other output: %q", len(acked), other)
	}

	r := open(t, dsn)
	defer r.Close()
	missing := 0
	for _, id := range acked {
		if _, err := r.Get(ctx(t), id); err != nil {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged rule %s lost after SIGKILL: %v", id, err)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged rules lost after SIGKILL", missing, len(acked))
	}
	all := listAll(t, r, rules.Filter{Limit: rules.MaxPageSize})
	if len(all) < len(acked) {
		t.Errorf("%d rules stored, fewer than the %d acknowledged", len(all), len(acked))
	}
	t.Logf("%d acknowledged writes survived SIGKILL (%d rules stored)", len(acked), len(all))
}

// crashChild creates rules until it is killed (or a minute passes),
// printing the id of each acknowledged one.
func crashChild(t *testing.T, r rules.Repository) {
	const writers = 4
	var mu sync.Mutex
	deadline := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				rule := sample(i)
				rule.KeyValue = fmt.Sprintf("crash-%d-%d-%d", os.Getpid(), w, i)
				got, err := r.Create(ctx(t), rule, "crash-writer")
				if err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "%s%s\n", ackPrefix, got.ID) // os.Stdout is unbuffered
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Error("the writer was not killed within a minute")
}

// runPattern returns a -test.run pattern selecting exactly the test named
// name (a subtest name has one part per level).
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

func isNotFound(err error) bool { return errors.Is(err, rules.ErrNotFound) }
