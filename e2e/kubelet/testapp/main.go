// Command testapp is the application, pause process and fake Google backend of the kubelet
// tier's pods: one static binary in a scratch image, so that the pods hold nothing the test
// did not build. Every line it prints starts with a keyword the tests look for; the time of
// a line is taken from the CRI log file, the same clock as the proxy's lines.
//
// Modes:
//
//	pause                  the pod sandbox's process: wait for SIGTERM or SIGINT
//	dial ADDR then=MODE    one TCP dial, print "DIAL OK" or "DIAL REFUSED ..."; then exit
//	                       (MODE exit), wait for SIGTERM (sleep), or call $CSQL_PROXY_QUIT_URLS
//	                       and exit (quit)
//	hold ADDR WAIT HOLD    after WAIT, open a connection through ADDR and echo over it;
//	                       HOLD > 0: close it after HOLD and wait for SIGTERM; HOLD = 0:
//	                       keep it until SIGTERM, then echo over it once more and exit
//	backend                the SQL Admin API on 127.0.0.1:8080 and a TLS "instance" on
//	                       127.0.0.1:3307 that echoes, for connections through the proxy
package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: testapp pause|dial|hold|backend ...")
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	switch os.Args[1] {
	case "pause":
		<-sig
	case "dial":
		dialOnce(os.Args[2:], sig)
	case "hold":
		hold(os.Args[2:], sig)
	case "backend":
		if err := serveBackend(); err != nil {
			fail("BACKEND ERROR %v", err)
		}
		fmt.Println("BACKEND READY")
		<-sig
		fmt.Println("BACKEND SIGTERM")
	default:
		fail("unknown mode %q", os.Args[1])
	}
}

func fail(format string, a ...any) {
	fmt.Printf(format+"\n", a...)
	os.Exit(2)
}

// dialOnce is the seed's experiment: the application's first action is one dial, as a
// program that opens its pool at startup does, and nothing retries it.
func dialOnce(args []string, sig chan os.Signal) {
	if len(args) != 2 || !strings.HasPrefix(args[1], "then=") {
		fail("usage: dial ADDR then=exit|sleep|quit")
	}
	c, err := net.DialTimeout("tcp", args[0], 5*time.Second)
	switch {
	case err == nil:
		c.Close()
		fmt.Println("DIAL OK")
	case isRefused(err):
		fmt.Printf("DIAL REFUSED %v\n", err)
	default:
		fmt.Printf("DIAL ERROR %v\n", err)
	}
	switch strings.TrimPrefix(args[1], "then=") {
	case "exit":
	case "sleep":
		<-sig
	case "quit":
		quit()
	default:
		fail("unknown then= %q", args[1])
	}
}

func isRefused(err error) bool {
	return strings.Contains(err.Error(), "connection refused")
}

// quit calls the URL ForJob gives the application; the answer is ignored, as the library
// documents (the proxy may exit before it has written one).
func quit() {
	u := os.Getenv("CSQL_PROXY_QUIT_URLS")
	if u == "" {
		fail("QUIT no CSQL_PROXY_QUIT_URLS")
	}
	resp, err := http.Post(u, "text/plain", nil)
	if err == nil {
		resp.Body.Close()
		fmt.Printf("QUIT %s %d\n", u, resp.StatusCode)
		return
	}
	fmt.Printf("QUIT %s %v\n", u, err)
}

func hold(args []string, sig chan os.Signal) {
	if len(args) != 3 {
		fail("usage: hold ADDR WAIT HOLD")
	}
	wait, err1 := time.ParseDuration(args[1])
	holdFor, err2 := time.ParseDuration(args[2])
	if err1 != nil || err2 != nil {
		fail("hold: bad durations %q %q", args[1], args[2])
	}
	time.Sleep(wait)
	c, err := net.DialTimeout("tcp", args[0], 5*time.Second)
	if err != nil {
		fail("HOLD DIAL %v", err)
	}
	r := bufio.NewReader(c)
	if err := echo(c, r, "first"); err != nil {
		fail("HOLD ECHO %v", err)
	}
	fmt.Println("HOLD OPEN")
	if holdFor > 0 {
		time.Sleep(holdFor)
		c.Close()
		fmt.Println("HOLD CLOSED")
		<-sig
		return
	}
	<-sig
	fmt.Println("APP SIGTERM")
	// A second after the signal, so that a proxy stopped at the same time as the
	// application would have closed the connection by now.
	time.Sleep(time.Second)
	if err := echo(c, r, "after-sigterm"); err != nil {
		fmt.Printf("AFTER CUT %v\n", err)
	} else {
		fmt.Println("AFTER OK")
	}
	c.Close()
	fmt.Println("APP EXIT")
}

func echo(c net.Conn, r *bufio.Reader, msg string) error {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(c, msg); err != nil {
		return err
	}
	got, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(got) != msg {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}
