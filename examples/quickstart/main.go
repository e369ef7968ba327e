// Command quickstart shows Sluice deciding calls in-process: a login limit,
// an API limit per user and per route checked together, a token bucket
// paying for LLM tokens with a refund, and a lockout after failed logins.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sluicehq/sluice"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	ctx := context.Background()
	lim := sluice.New(nil, sluice.Config{}) // counters in memory
	defer lim.Close()

	show := func(what string, d sluice.Decision) {
		fmt.Fprintf(w, "%-44s allowed=%-5v remaining=%-4d retry_after=%-6s reason=%s\n",
			what, d.Allowed, d.Remaining, d.RetryAfter.Round(1e9), d.Reason)
	}

	// 1. Five logins per 15 minutes per email (sliding window, the default).
	login := sluice.MustParseLimit("5/15m")
	for i := 1; i <= 6; i++ {
		d, err := lim.Allow(ctx, sluice.Key("login", "alice@example.com"), login)
		if err != nil {
			return err
		}
		show(fmt.Sprintf("login alice #%d (5/15m)", i), d)
	}

	// 2. A per-user and a per-route limit on the same call, all-or-nothing.
	perUser := sluice.Request{Key: sluice.Key("user", "u_123"), Limit: sluice.MustParseLimit("100/1m"), Cost: 1}
	perRoute := sluice.Request{Key: sluice.Key("route", "/api/chat"), Limit: sluice.MustParseLimit("2/1m fixed_window"), Cost: 1}
	for i := 1; i <= 3; i++ {
		d, _, err := lim.AllowAll(ctx, perUser, perRoute)
		if err != nil {
			return err
		}
		show(fmt.Sprintf("chat u_123 #%d (user 100/1m + route 2/1m)", i), d)
	}

	// 3. An LLM budget: reserve 800 tokens, refund the 500 not used.
	budget := sluice.MustParseLimit("1000/1m token_bucket")
	d, err := lim.AllowN(ctx, sluice.Key("llm", "u_123"), budget, 800)
	if err != nil {
		return err
	}
	show("llm reserve 800 tokens (1000/1m)", d)
	if d, err = lim.Refund(ctx, sluice.Key("llm", "u_123"), budget, 500); err != nil {
		return err
	}
	show("llm refund 500 unused tokens", d)

	// 4. Lock the account after 3 failed logins; a success clears them.
	failed := sluice.MustParseLimit("3/15m counter")
	for i := 1; i <= 4; i++ {
		if d, err = lim.Allow(ctx, sluice.Key("failed_login", "bob"), failed); err != nil {
			return err
		}
		show(fmt.Sprintf("failed login bob #%d (3/15m counter)", i), d)
	}
	if err := lim.Reset(ctx, sluice.Key("failed_login", "bob")); err != nil {
		return err
	}
	if d, err = lim.Peek(ctx, sluice.Key("failed_login", "bob"), failed); err != nil {
		return err
	}
	show("bob after a successful login (reset)", d)
	return nil
}
