package redis

import (
	"embed"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/algorithm"
)

// The Lua sources. Each algorithm of package algorithm is one file beside
// this one, <name>.lua, defining <name>(…) (algorithm.Apply) and
// <name>_give_back(…) (algorithm.Refund's new state); the shared library
// and the entry points are in lua/. A script sent to Redis is lua/lib.lua,
// the algorithms it needs, the definition of apply and give_back, and an
// entry file: scripts for one call include only that call's algorithm, so
// Redis creates fewer Lua functions per call.
//
//go:embed *.lua lua/*.lua
var luaFiles embed.FS

// algorithmFile returns the Lua file and function name of an algorithm.
func algorithmFile(a algorithm.Algorithm) (file, fn string) {
	fn = a.String()
	return fn + ".lua", fn
}

// source concatenates the named embedded files (paths relative to this
// package).
func source(files ...string) (string, error) {
	var b strings.Builder
	for _, name := range files {
		src, err := luaFiles.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("sluice redis: embedded script %s: %w", name, err)
		}
		b.Write(src)
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// oneAlgorithm returns the script running entry for algorithm a only;
// withRefund adds refund (refund_fn.lua).
func oneAlgorithm(a algorithm.Algorithm, entry string, withRefund bool) (*script, error) {
	file, fn := algorithmFile(a)
	head, err := source("lua/lib.lua", file)
	if err != nil {
		return nil, err
	}
	files := []string{entry}
	if withRefund {
		files = []string{"lua/refund_fn.lua", entry}
	}
	tail, err := source(files...)
	if err != nil {
		return nil, err
	}
	bind := fmt.Sprintf("local apply, give_back = %s, %s_give_back\n", fn, fn)
	return newScript(head + bind + tail), nil
}

// everyAlgorithm returns the script running entry for calls of any algorithm.
func everyAlgorithm(entry string) (*script, error) {
	files := []string{"lua/lib.lua"}
	for a := algorithm.SlidingWindow; a.Valid(); a++ {
		file, _ := algorithmFile(a)
		files = append(files, file)
	}
	src, err := source(append(files, "lua/dispatch.lua", "lua/refund_fn.lua", entry)...)
	if err != nil {
		return nil, err
	}
	return newScript(src), nil
}

// numAlgorithms is the number of algorithms, for arrays indexed by one.
const numAlgorithms = int(algorithm.Quota) + 1

// scripts are the store's Lua scripts, built once per Store.
type scripts struct {
	take1  [numAlgorithms]*script // one call (Take), per algorithm
	refund [numAlgorithms]*script // Refund, per algorithm
	take   *script                // several calls (TakeAll)
	undo   *script                // the cross-slot protocol's second round trip
	lease  *script                // Acquire and Release
}

func newScripts() (scripts, error) {
	var all scripts
	var err error
	for a := algorithm.SlidingWindow; a.Valid(); a++ {
		if all.take1[a], err = oneAlgorithm(a, "lua/take1.lua", false); err != nil {
			return scripts{}, err
		}
		if all.refund[a], err = oneAlgorithm(a, "lua/refund.lua", true); err != nil {
			return scripts{}, err
		}
	}
	if all.take, err = everyAlgorithm("lua/take.lua"); err != nil {
		return scripts{}, err
	}
	if all.undo, err = everyAlgorithm("lua/undo.lua"); err != nil {
		return scripts{}, err
	}
	src, err := source("lua/lib.lua", "lua/lease.lua")
	if err != nil {
		return scripts{}, err
	}
	all.lease = newScript(src)
	return all, nil
}
