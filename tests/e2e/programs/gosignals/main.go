// A Go program's use of signals that a packed Go service meets (tests/e2e/test_e2e_go.py).
//
//	gosignals exec N R   N goroutines each run this program R times as a child (os/exec),
//	                     which waits for each child with SIGCHLD coming in meanwhile
//	gosignals wait       prints "ready", waits for SIGTERM or SIGINT (signal.Notify) with
//	                     every thread idle in a blocking call, then says which and exits 0
//	gosignals child      prints "child" (what exec runs)
//
// Go's signal handlers check that they run on the signal stack Go gave the thread; when they
// do not, a static Go program waits forever for a thread record it does not have.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gosignals exec N R | wait | child")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "child":
		fmt.Println("child")
	case "wait":
		wait()
	case "exec":
		runChildren(number(2), number(3))
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}

func number(i int) int {
	n, err := strconv.Atoi(os.Args[i])
	if err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "not a count:", os.Args[i])
		os.Exit(2)
	}
	return n
}

func wait() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("ready")
	s := <-c
	fmt.Println("got", s)
}

func runChildren(goroutines, each int) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	good := 0
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				out, err := exec.Command(os.Args[0], "child").Output()
				if err == nil && string(out) == "child\n" {
					mu.Lock()
					good++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%d of %d children ran\n", good, goroutines*each)
}
