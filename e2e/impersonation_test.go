package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/podspec/cloudsqlproxy"
)

// googleAPIProxy is an HTTPS proxy on loopback that the proxy reaches Google's APIs
// through (HTTPS_PROXY), and that plays those APIs itself: it accepts the CONNECT, ends
// the TLS with a certificate for the API's host from a CA of the test (which the proxy
// trusts through SSL_CERT_FILE), and answers IAM Credentials' generateAccessToken. It
// records every request. Nothing goes further than this process.
type googleAPIProxy struct {
	URL    string // for HTTPS_PROXY
	CAFile string // for SSL_CERT_FILE

	mu       sync.Mutex
	requests []apiRequest
}

type apiRequest struct {
	Host, Method, Path, Authorization string
	Body                              []byte
}

func startGoogleAPIProxy(t *testing.T) *googleAPIProxy {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e Google API CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "googleapis.com"},
		DNSNames:  []string{"iamcredentials.googleapis.com", "oauth2.googleapis.com", "sqladmin.googleapis.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	g := &googleAPIProxy{CAFile: filepath.Join(t.TempDir(), "ca.pem")}
	if err := os.WriteFile(g.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}, NextProtos: []string{"http/1.1"}}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.URL = "http://" + l.Addr().String()
	tunnels := &connListener{conns: make(chan net.Conn), done: make(chan struct{}), addr: l.Addr()}
	srv := &http.Server{Handler: http.HandlerFunc(g.serve), TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
	go func() { _ = srv.Serve(tunnels) }()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go g.tunnel(c, tunnels, tlsConf)
		}
	}()
	t.Cleanup(func() { l.Close(); srv.Close() })
	return g
}

// tunnel answers one CONNECT and hands its TLS side to the API server.
func (g *googleAPIProxy) tunnel(c net.Conn, to *connListener, conf *tls.Config) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		_, _ = io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\n\r\n")
		c.Close()
		return
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		c.Close()
		return
	}
	select {
	case to.conns <- tls.Server(&bufferedConn{c, br}, conf):
	case <-to.done:
		c.Close()
	}
}

func (g *googleAPIProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	g.mu.Lock()
	g.requests = append(g.requests, apiRequest{r.Host, r.Method, r.URL.Path, r.Header.Get("Authorization"), body})
	g.mu.Unlock()
	// POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken
	email, ok := strings.CutPrefix(r.URL.Path, "/v1/projects/-/serviceAccounts/")
	if email, found := strings.CutSuffix(email, ":generateAccessToken"); ok && found && r.Host == "iamcredentials.googleapis.com" && r.Method == http.MethodPost {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"accessToken": "impersonated-" + email, "expireTime": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
		return
	}
	http.Error(w, `{"error":{"code":404,"message":"not found"}}`, http.StatusNotFound)
}

func (g *googleAPIProxy) tokenRequests() []apiRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []apiRequest
	for _, r := range g.requests {
		if strings.HasSuffix(r.Path, ":generateAccessToken") {
			out = append(out, r)
		}
	}
	return out
}

// connListener is a net.Listener of the connections put on conns.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *connListener) Addr() net.Addr { return l.addr }

// bufferedConn reads what the CONNECT's reader already holds before the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestImpersonationChainOrder: with WithImpersonation(a, b, c) the real proxy asks IAM
// Credentials for a token of a, the FIRST account, through the delegates c then b (the
// API's order: the caller impersonates the first delegate, each delegate the next, the
// last one the target), with its own credentials; and then calls the SQL Admin API with
// a's token. It asks at startup, when it warms the instance's connection info.
func TestImpersonationChainOrder(t *testing.T) {
	t.Parallel()
	google, api := startGoogleAPIProxy(t), newAPIProbe(t)
	const conn = "imp-project:us-central1:imp-db"
	if err := api.fake.register(conn); err != nil {
		t.Fatal(err)
	}
	a, b, c := "a@imp-project.iam.gserviceaccount.com", "b@imp-project.iam.gserviceaccount.com", "c@imp-project.iam.gserviceaccount.com"
	port, health := freePort(t, 1), freePort(t, 1)
	p, err := cloudsqlproxy.New(conn, cloudsqlproxy.WithPort(port), cloudsqlproxy.WithHealthPort(health), cloudsqlproxy.WithImpersonation(a, b, c))
	if err != nil {
		t.Fatal(err)
	}
	proc, log := proxyProcess(t, api, p.Container().Args, health, []string{"HTTPS_PROXY=" + google.URL, "SSL_CERT_FILE=" + google.CAFile}, nil)
	if !waitFor(func() bool {
		return len(google.tokenRequests()) > 0 && api.count(api.bearers, "Bearer impersonated-"+a) > 0
	}) {
		t.Errorf("no impersonated token was asked for and used (token requests %+v)\n%s", google.tokenRequests(), log.tail(30))
	}
	for _, r := range google.tokenRequests() {
		var body struct {
			Delegates []string `json:"delegates"`
			Scope     []string `json:"scope"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Errorf("token request body %q: %v", r.Body, err)
		}
		got := []string{r.Host, r.Method, r.Path, r.Authorization}
		got = append(got, body.Delegates...)
		want := []string{"iamcredentials.googleapis.com", http.MethodPost, "/v1/projects/-/serviceAccounts/" + a + ":generateAccessToken", "Bearer test",
			"projects/-/serviceAccounts/" + c, "projects/-/serviceAccounts/" + b}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("token request: host, method, path, credentials, delegates (-want +got):\n%s", diff)
		}
	}
	_ = proc.cmd.Process.Signal(syscall.SIGTERM)
	if err := expectExit(proc, 10*time.Second, "after SIGTERM"); err != nil {
		t.Error(err)
	}
}
