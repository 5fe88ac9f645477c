// Command benchreport runs every benchmark of the project in one go,
// keeps the raw output under benchmarks/results, draws the scaling chart
// (SVG, from the data) and writes BENCHMARKS.md with the ratios against
// DESIGN.md's targets. Run it from the repository root:
//
//	go run ./benchmarks/cmd/benchreport            # about 40 minutes on 2 cores
//	go run ./benchmarks/cmd/benchreport -quick     # -count 1, for a look
//	go run ./benchmarks/cmd/benchreport -reuse     # re-render from benchmarks/results
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// suite is one `go test -bench` invocation.
type suite struct {
	name, dir, pattern, benchtime string
	count                         int
	env                           string // KEY=VALUE, or ""
	cols                          string // benchstat -col, or ""
}

var suites = []suite{
	{"hits", "./identityweb", "Hit|Baseline", "1s", 6, "", ""},
	{"mixed", "./identityweb", "Mixed", "1s", 6, "", ""},
	{"web", "./identityweb", "Bearer|RequireUser|DPoP|Downstream|Callback", "1s", 6, "", ""},
	{"cachestore", "./cachestore", "KeyRing|L1Memory|MemoryGet", "1s", 6, "", ""},
	{"l2", "./cachestore/redisstore", "L2Hit", "20000x", 10, "", ""},
	// The peers side by side, 1 to 100,000 cached tokens: filling 100,000
	// tokens by real acquisitions takes several minutes, once per process.
	{"peers", "./benchmarks", "AppTokenHit|OBOTokenHit|BearerPeers", "1s", 6, "IDWEB_BENCH_LARGE=1", "/lib"},
}

func main() {
	quick := flag.Bool("quick", false, "one run per benchmark")
	out := flag.String("out", "BENCHMARKS.md", "the report to write")
	reuse := flag.Bool("reuse", false, "do not run the benchmarks: read benchmarks/results/*.txt of the last run")
	flag.Parse()
	if _, err := os.Stat("go.work"); err != nil {
		fail("run from the repository root (where go.work is)")
	}
	os.MkdirAll("benchmarks/results", 0o755)
	// When the run was made: a fresh run records it beside its results, so
	// that -reuse re-renders the report with the run's date, not its own.
	when := time.Now().UTC().Format("2006-01-02 15:04 UTC")
	if *reuse {
		b, err := os.ReadFile("benchmarks/results/run.txt")
		if err != nil {
			fail("-reuse: " + err.Error())
		}
		when = strings.TrimSpace(string(b))
	} else {
		os.WriteFile("benchmarks/results/run.txt", []byte(when+"\n"), 0o644)
	}
	data := map[string]*series{}
	var commands []string
	for _, s := range suites {
		count := s.count
		if *quick {
			count = 1
		}
		st := step{name: s.name, env: s.env, stdoutOnly: true, args: []string{"test", "-run", "XXX", "-bench", s.pattern,
			"-benchtime", s.benchtime, "-count", strconv.Itoa(count), "-timeout", "90m", s.dir}}
		commands = append(commands, st.command())
		parse(st.run(*reuse), data)
	}
	svg := chart(data)
	os.WriteFile("benchmarks/results/hits.svg", []byte(svg), 0o644)
	chaosStep := step{name: "chaos", env: "IDWEB_LOAD_DURATION=" + chaosDuration,
		args: []string{"test", "-count=1", "-run", "Chaos", "-v", "-timeout", "30m", "./benchmarks/load"}}
	coldStep := step{name: "cold", args: []string{"test", "-count=1", "-run", "TestColdMissUnderConcurrency", "-v", "./benchmarks"}}
	commands = append(commands, chaosStep.command(), coldStep.command())
	chaosOut, coldOut := chaosStep.run(*reuse), coldStep.run(*reuse)
	var chaos []string
	for _, l := range strings.Split(string(chaosOut), "\n") {
		if i := strings.Index(l, "load_test.go:"); i >= 0 {
			if j := strings.Index(l[i:], ": "); j >= 0 {
				chaos = append(chaos, strings.TrimSpace(l[i+j+2:]))
			}
		}
	}
	cold := ""
	for _, l := range strings.Split(string(coldOut), "\n") {
		if i := strings.Index(l, "concurrent callers"); i >= 0 {
			cold = strings.TrimSpace(l[strings.Index(l, ": ")+2:])
		}
	}
	stats := benchstat()
	report := render(data, when, commands, strings.Join(chaos, "\n"), cold, stats)
	if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
		fail(err.Error())
	}
	fmt.Fprintf(os.Stderr, "wrote %s and benchmarks/results/*.txt, hits.svg\n", *out)
}

// step is one `go` invocation whose output is kept in
// benchmarks/results/name.txt.
type step struct {
	name       string
	env        string // KEY=VALUE, or ""
	args       []string
	stdoutOnly bool // keep stdout only (benchmarks); stderr goes to the terminal
}

// command is the shell line that reproduces the step.
func (s step) command() string {
	prefix := ""
	if s.env != "" {
		prefix = s.env + " "
	}
	return prefix + "go " + strings.Join(s.args, " ") + " > benchmarks/results/" + s.name + ".txt"
}

// run runs the step and keeps its output, or reads that file back when
// reusing the last run.
func (s step) run(reuse bool) []byte {
	file := filepath.Join("benchmarks/results", s.name+".txt")
	if reuse {
		b, err := os.ReadFile(file)
		if err != nil {
			fail(err.Error())
		}
		return b
	}
	fmt.Fprintf(os.Stderr, "running %s: %s\n", s.name, s.command())
	cmd := exec.Command("go", s.args...)
	cmd.Env = os.Environ()
	if s.env != "" {
		cmd.Env = append(cmd.Env, s.env)
	}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if s.stdoutOnly {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Run(); err != nil {
		fail(fmt.Sprintf("%s failed: %v\n%s", s.name, err, buf.String()))
	}
	os.WriteFile(file, buf.Bytes(), 0o644)
	return buf.Bytes()
}

// chaosDuration is each load-and-chaos scenario's run in the report.
const chaosDuration = "10s"

// benchstat summarizes each results file with benchstat (the benchmarks
// module's tool), libraries side by side where the suite names them; only
// the time table is kept (B/op and allocs/op are in the medians table).
func benchstat() []string {
	var out []string
	for _, s := range suites {
		file := filepath.Join("benchmarks/results", s.name+".txt")
		args := []string{"tool", "benchstat"}
		if s.cols != "" {
			args = append(args, "-col", s.cols)
		}
		args = append(args, file)
		b, err := exec.Command("go", args...).Output()
		if err != nil {
			fail(fmt.Sprintf("benchstat %s: %v", file, err))
		}
		table := string(b)
		if i := strings.Index(table, "\n\n"); i >= 0 {
			table = table[:i]
		}
		out = append(out, "$ go "+strings.Join(args, " ")+"\n"+strings.TrimRight(table, "\n"))
	}
	return out
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "benchreport:", msg)
	os.Exit(1)
}

// series holds the samples of one benchmark.
type series struct {
	ns, bytes, allocs []float64
	extra             map[string][]float64
}

func parse(b []byte, data map[string]*series) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i] // the -GOMAXPROCS suffix
		}
		s := data[name]
		if s == nil {
			s = &series{extra: map[string][]float64{}}
			data[name] = s
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				s.ns = append(s.ns, v)
			case "B/op":
				s.bytes = append(s.bytes, v)
			case "allocs/op":
				s.allocs = append(s.allocs, v)
			default:
				s.extra[f[i+1]] = append(s.extra[f[i+1]], v)
			}
		}
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	c := slices.Clone(v)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

// ns returns the median ns/op of name (0 when absent).
func ns(data map[string]*series, name string) float64 {
	if s := data[name]; s != nil {
		return median(s.ns)
	}
	return 0
}

func allocs(data map[string]*series, name string) float64 {
	if s := data[name]; s != nil {
		return median(s.allocs)
	}
	return 0
}

func dur(v float64) string {
	if v == 0 {
		return "n/a"
	}
	return time.Duration(v).String()
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	clock := ""
	if b, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource"); err == nil {
		clock = ", clock source " + strings.TrimSpace(string(b))
	}
	redis, _ := exec.Command("redis-server", "--version").Output()
	out, _ := exec.Command("go", "version").Output()
	return fmt.Sprintf("%d logical CPUs (%s)%s%s%s, %s/%s, %s; %s", runtime.NumCPU(), model, mem, kernel, clock, runtime.GOOS, runtime.GOARCH,
		strings.TrimSpace(string(out)), strings.TrimSpace(string(redis)))
}
