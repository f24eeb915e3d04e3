package projections

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cpuSample is the CPU time used so far by this test process (runners, forwarder, the
// embedded NATS server, the SQLite event store) and by its descendants (the throwaway
// PostgreSQL server and its backends), read from /proc. A benchmark subtracts two
// samples to say how much of the machine a run used, not only how fast it went: on a
// shared host the wall clock alone cannot tell a slower design from a busier neighbour.
type cpuSample struct {
	at          time.Time
	self, child time.Duration
	host        time.Duration // busy time of every CPU of the host, whoever used it
	ok          bool          // /proc was readable (Linux)
}

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, 100 on every
// Linux architecture Go supports.
const userHZ = 100

func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	self := os.Getpid()
	type proc struct {
		ppid        int
		cpu, reaped time.Duration
	}
	procs := map[int]proc{}
	dirs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(dirs) == 0 {
		return s
	}
	for _, path := range dirs {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue // exited meanwhile
		}
		pid, ppid, cpu, reaped, ok := parseStat(string(raw))
		if ok {
			procs[pid] = proc{ppid, cpu, reaped}
		}
	}
	me, found := procs[self]
	if !found {
		return s
	}
	s.self, s.ok = me.cpu, true
	s.host = hostBusy()
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	queue := children[self]
	for len(queue) > 0 {
		pid := queue[0]
		queue = append(queue[1:], children[pid]...)
		// A backend that exited (a connection closed) is in its parent's reaped time.
		s.child += procs[pid].cpu + procs[pid].reaped
	}
	return s
}

// parseStat reads pid, ppid, utime+stime and cutime+cstime (the time of the children
// it waited for) from a /proc/<pid>/stat line; the command name in parentheses may hold
// spaces, so fields are counted after its closing one.
func parseStat(line string) (pid, ppid int, cpu, reaped time.Duration, ok bool) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 1 || end < open {
		return 0, 0, 0, 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return 0, 0, 0, 0, false
	}
	f := strings.Fields(line[end+1:]) // f[0] is field 3 (state), f[n-3] field n
	if len(f) < 15 {
		return 0, 0, 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, 0, 0, false
	}
	var ticks [4]int64 // utime, stime, cutime, cstime: fields 14 to 17
	for i := range ticks {
		if ticks[i], err = strconv.ParseInt(f[11+i], 10, 64); err != nil {
			return 0, 0, 0, 0, false
		}
	}
	tick := time.Second / userHZ
	return pid, ppid, time.Duration(ticks[0]+ticks[1]) * tick, time.Duration(ticks[2]+ticks[3]) * tick, true
}

// hostBusy is the time every CPU of the host spent on anything but idling and waiting
// for I/O, from the first line of /proc/stat: what the neighbours on a shared machine
// took shows as host minus self minus child.
func hostBusy() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || i >= 8 {
			break
		}
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / userHZ
}

// cpuUse is what happened between two samples.
type cpuUse struct {
	wall, self, child, host time.Duration
	ok                      bool
}

func (s cpuSample) until(e cpuSample) cpuUse {
	return cpuUse{wall: e.at.Sub(s.at), self: e.self - s.self, child: e.child - s.child,
		host: e.host - s.host, ok: s.ok && e.ok}
}

// report adds the run's CPU figures to b: cores used by the ledger's processes (this
// one and PostgreSQL's), by the whole host, and CPU microseconds per event.
func (u cpuUse) report(b *testing.B, events int) {
	if !u.ok {
		return
	}
	b.ReportMetric(u.cores(u.self), "go-cores")
	b.ReportMetric(u.cores(u.child), "pg-cores")
	b.ReportMetric(u.cores(u.host), "host-cores")
	b.ReportMetric(float64((u.self+u.child).Microseconds())/float64(events), "cpu-us/event")
}

// cores is the CPU used per second of wall time: 2 is all of a 2-core machine.
func (u cpuUse) cores(d time.Duration) float64 { return d.Seconds() / u.wall.Seconds() }
