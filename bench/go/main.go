// Command gobench is the Go twin of goro-bench's workloads: the same workloads,
// the same parameters, the same one-line JSON output. It is run by goro-bench
// (one process per workload), or by hand:
//
//	go build -o target/bench-go/gobench ./bench/go   (from bench/go: go build -o ../../target/bench-go/gobench .)
//	gobench -workload skynet -n 1000000 -runs 5
//
// Adding a workload: write a func(n int) (sample, error) and add it to the
// workloads map; the name must match goro-bench's registry.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type sample struct {
	elapsed  time.Duration
	rssDelta int64
	hasRSS   bool
}

var workloads = map[string]func(n int) (sample, error){
	"spawn_join":      spawnJoin,
	"skynet":          skynetBench,
	"rss_parked":      rssParked,
	"pingpong":        pingpong,
	"spsc_unbuffered": func(n int) (sample, error) { return spsc(n, 0) },
	"spsc_buffered":   func(n int) (sample, error) { return spsc(n, bufferedCap) },
	"mpmc_4x4":        mpmc4x4,
	"select4":         select4,
	"sieve":           sieveBench,
	"thread_ring":     threadRing,
	"worker_pool":     workerPool,
	"sleepers":        sleepers,
	"timers":          timersBench,
	"sleep_lateness":  sleepLateness,
}

// settle is how long to let the last parked goroutines block after the counter
// says all are there (the counter is bumped just before each one blocks).
const settle = 100 * time.Millisecond

// spawnJoin: n goroutines that do nothing but wg.Done(), then wg.Wait().
func spawnJoin(n int) (sample, error) {
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() { wg.Done() }()
	}
	wg.Wait()
	return sample{elapsed: time.Since(start)}, nil
}

// skynet: the canonical channel version.
func skynet(c chan int, num, size, div int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int)
	var sum int
	for i := 0; i < div; i++ {
		subNum := num + i*(size/div)
		go skynet(rc, subNum, size/div, div)
	}
	for i := 0; i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

func skynetBench(n int) (sample, error) {
	m := n
	for m > 1 && m%10 == 0 {
		m /= 10
	}
	if m != 1 {
		return sample{}, fmt.Errorf("skynet needs n to be a power of ten, got %d", n)
	}
	start := time.Now()
	c := make(chan int)
	go skynet(c, 0, n, 10)
	sum := <-c
	elapsed := time.Since(start)
	want := n * (n - 1) / 2
	if sum != want {
		return sample{}, fmt.Errorf("skynet: wrong sum %d, want %d", sum, want)
	}
	return sample{elapsed: elapsed}, nil
}

// rss reads resident pages from /proc/self/statm times the page size.
func rss() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, errors.New("unexpected /proc/self/statm")
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * int64(os.Getpagesize()), nil
}

// rssParked: n goroutines blocked on one shared unbuffered channel, closed at the end.
func rssParked(n int) (sample, error) {
	ch := make(chan struct{})
	var parked atomic.Int64
	var wg sync.WaitGroup
	before, err := rss()
	if err != nil {
		return sample{}, err
	}
	start := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			parked.Add(1)
			<-ch
			wg.Done()
		}()
	}
	for parked.Load() < int64(n) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(settle)
	after, err := rss()
	if err != nil {
		return sample{}, err
	}
	close(ch)
	wg.Wait()
	return sample{elapsed: time.Since(start), rssDelta: after - before, hasRSS: true}, nil
}

type output struct {
	Workload      string  `json:"workload"`
	Runtime       string  `json:"runtime"`
	N             int     `json:"n"`
	Warmup        int     `json:"warmup"`
	Runs          int     `json:"runs"`
	Threads       int     `json:"threads"`
	SamplesNs     []int64 `json:"samples_ns"`
	MedianNs      int64   `json:"median_ns"`
	RSSDeltaBytes []int64 `json:"rss_delta_bytes"`
	MaxRSSKiB     *int64  `json:"max_rss_kib"`
	Error         string  `json:"error,omitempty"`
}

func peakKiB() *int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			if k, err := strconv.ParseInt(v, 10, 64); err == nil {
				return &k
			}
		}
	}
	return nil
}

func median(xs []int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	v := append([]int64(nil), xs...)
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	k := len(v)
	if k%2 == 1 {
		return v[k/2]
	}
	return (v[k/2-1] + v[k/2]) / 2
}

func main() {
	workload := flag.String("workload", "", "workload name")
	n := flag.Int("n", 1000000, "size")
	runs := flag.Int("runs", 5, "measured runs")
	warmup := flag.Int("warmup", 1, "warm-up runs")
	flag.Parse()

	out := output{
		Workload: *workload, Runtime: "go", N: *n, Warmup: *warmup, Runs: *runs,
		Threads: runtime.GOMAXPROCS(0), SamplesNs: []int64{}, RSSDeltaBytes: []int64{},
	}
	err := run(&out, *workload, *n, *warmup, *runs)
	out.MaxRSSKiB = peakKiB()
	if err != nil {
		out.Error = err.Error()
	}
	line, jerr := json.Marshal(out)
	if jerr != nil {
		fmt.Fprintln(os.Stderr, jerr)
		os.Exit(2)
	}
	fmt.Println(string(line))
	if err != nil {
		os.Exit(1)
	}
}

func run(out *output, workload string, n, warmup, runs int) error {
	f, ok := workloads[workload]
	if !ok && strings.HasPrefix(workload, "cb_") {
		f, ok = cbWorkload(workload)
	}
	if !ok {
		return fmt.Errorf("go has no workload %q", workload)
	}
	for i := 0; i < warmup; i++ {
		if _, err := f(n); err != nil {
			return err
		}
	}
	for i := 0; i < runs; i++ {
		s, err := f(n)
		if err != nil {
			return err
		}
		out.SamplesNs = append(out.SamplesNs, s.elapsed.Nanoseconds())
		if s.hasRSS {
			out.RSSDeltaBytes = append(out.RSSDeltaBytes, s.rssDelta)
		}
	}
	out.MedianNs = median(out.SamplesNs)
	return nil
}
