package bench

// CPU time of the proxy processes, from /proc (Linux), so that the
// benchmark can report the CPU each proxied request costs: a figure that
// depends much less than req/s on what else the machine is running.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// gwUserHZ is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every mainstream Linux).
const gwUserHZ = 100

// gwProcCPU returns the user+system CPU time of pid and of its child
// processes that are alive (nginx's workers), and false when /proc cannot
// tell (not Linux).
func gwProcCPU(pid int) (time.Duration, bool) {
	own, ok := gwStatCPU(pid)
	if !ok {
		return 0, false
	}
	total := own
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		if ppid, ok := gwStatField(child, 4); ok && ppid == int64(pid) {
			if c, ok := gwStatCPU(child); ok {
				total += c
			}
		}
	}
	return total, true
}

// gwStatCPU returns utime+stime of pid.
func gwStatCPU(pid int) (time.Duration, bool) {
	u, ok1 := gwStatField(pid, 14)
	s, ok2 := gwStatField(pid, 15)
	if !ok1 || !ok2 {
		return 0, false
	}
	return time.Duration(u+s) * time.Second / gwUserHZ, true
}

// gwStatField returns field n (1-based, as in proc(5)) of /proc/<pid>/stat.
func gwStatField(pid, n int) (int64, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(s[i+1:]) // starts at field 3
	if n-3 < 0 || n-3 >= len(fields) {
		return 0, false
	}
	v, err := strconv.ParseInt(fields[n-3], 10, 64)
	return v, err == nil
}
