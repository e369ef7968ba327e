// Package bench holds Sluice's benchmarks, side by side with other rate
// limiters. It is a module of its own, so that the library never depends on
// the limiters it is compared with. Run them with
//
//	cd bench && go test -run '^$' -bench . -benchmem
//
// The load benchmarks (BenchmarkLoadServe, BenchmarkLoadEchoBaseline) make
// one load run of a fixed duration per sub-benchmark, whatever b.N is: by
// themselves, run them with -benchtime=1x.
//
// docs/BENCHMARKS.md records the figures, the machine and the exact command.
package bench
