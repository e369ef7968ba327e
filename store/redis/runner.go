package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/redis/rueidis"
)

// script is one Lua script, run with EVALSHA and sent whole with EVAL only
// when Redis does not know it (NOSCRIPT: Redis restarted, failed over, or
// SCRIPT FLUSH). EVAL caches the script again, so the next call is back to
// EVALSHA.
type script struct {
	src string
	sha string
}

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(sum[:])}
}

// call is one run of a script: its keys (all in one hash slot on a
// cluster), its arguments, and what came back.
type call struct {
	script *script
	keys   []string
	args   []string
	reply  []int64 // the reply, an array of integers, appended here
	err    error
}

// runner runs scripts on a rueidis client. Concurrent calls share round
// trips: rueidis pipelines them on a few connections per node.
type runner struct {
	client  rueidis.Client
	owned   bool // close the client with the store
	cluster bool // keys of one script must share a hash slot
}

func (r *runner) evalsha(s *script, keys, args []string) rueidis.Completed {
	return r.client.B().Evalsha().Sha1(s.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
}

func (r *runner) eval(s *script, keys, args []string) rueidis.Completed {
	return r.client.B().Eval().Script(s.src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
}

// runOne runs one script and appends its reply to reply. It takes slices
// rather than a call so that a caller's arrays can stay on its stack.
func (r *runner) runOne(ctx context.Context, s *script, keys, args []string, reply []int64) ([]int64, error) {
	res := r.client.Do(ctx, r.evalsha(s, keys, args))
	if noScript(res.Error()) {
		res = r.client.Do(ctx, r.eval(s, keys, args))
	}
	return integers(res, reply)
}

// run runs every call, concurrently when there are several (on a cluster,
// each on its own node), in one round trip unless a script must be loaded.
func (r *runner) run(ctx context.Context, calls []call) {
	if len(calls) == 1 {
		c := &calls[0]
		c.reply, c.err = r.runOne(ctx, c.script, c.keys, c.args, c.reply[:0])
		return
	}
	cmds := make(rueidis.Commands, len(calls))
	for i := range calls {
		cmds[i] = r.evalsha(calls[i].script, calls[i].keys, calls[i].args)
	}
	var again []int
	for i, res := range r.client.DoMulti(ctx, cmds...) {
		if noScript(res.Error()) {
			again = append(again, i)
			continue
		}
		calls[i].reply, calls[i].err = integers(res, calls[i].reply[:0])
	}
	if len(again) == 0 {
		return
	}
	cmds = cmds[:0]
	for _, i := range again {
		cmds = append(cmds, r.eval(calls[i].script, calls[i].keys, calls[i].args))
	}
	for j, res := range r.client.DoMulti(ctx, cmds...) {
		c := &calls[again[j]]
		c.reply, c.err = integers(res, c.reply[:0])
	}
}

func (r *runner) close() {
	if r.owned {
		r.client.Close()
	}
}

func noScript(err error) bool {
	e, ok := rueidis.IsRedisErr(err)
	return ok && e.IsNoScript()
}

// integers appends the integers of an array reply to dst.
func integers(res rueidis.RedisResult, dst []int64) ([]int64, error) {
	arr, err := res.ToArray()
	if err != nil {
		if e, ok := rueidis.IsRedisErr(err); ok && strings.Contains(e.Error(), "SLUICE_CLOCK") {
			return dst, ErrClockSkew
		}
		return dst, err
	}
	for _, m := range arr {
		v, err := m.AsInt64()
		if err != nil {
			return dst, fmt.Errorf("sluice redis: unexpected script reply: %w", err)
		}
		dst = append(dst, v)
	}
	return dst, nil
}
