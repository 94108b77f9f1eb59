package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"
)

// The backend plays, inside the pod's network namespace, the two Google services a
// connection through the proxy needs: the SQL Admin API (connectSettings and
// generateEphemeralCert, plain HTTP, reached through --sqladmin-api-endpoint) and the
// instance's server-side proxy on port 3307 (TLS 1.3, server certificate with CN
// "project:instance" signed by the CA the API hands out, as Cloud SQL's legacy CA mode
// does). Behind the TLS it echoes lines, which is all the application needs to tell a
// live connection from a cut one.
const (
	backendAPIAddr      = "127.0.0.1:8080"
	backendInstanceAddr = "127.0.0.1:3307"
)

type backend struct {
	caKey  *ecdsa.PrivateKey
	caCert *x509.Certificate
	caPEM  string
}

func serveBackend() error {
	b, err := newBackend()
	if err != nil {
		return err
	}
	api, err := net.Listen("tcp", backendAPIAddr)
	if err != nil {
		return err
	}
	inst, err := net.Listen("tcp", backendInstanceAddr)
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(api, http.HandlerFunc(b.serveAPI)) }()
	go b.serveInstance(inst)
	return nil
}

func newBackend() (*backend, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubelet tier CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &backend{caKey: key, caCert: cert,
		caPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}, nil
}

func (b *backend) sign(pub any, cn string, usage x509.ExtKeyUsage) ([]byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	return x509.CreateCertificate(rand.Reader, tmpl, b.caCert, pub, b.caKey)
}

// serveAPI answers /sql/v1beta4/projects/P/instances/I/connectSettings and
// .../instances/I:generateEphemeralCert for any instance, in region us-central1, the one
// every test pod's connection name gives (the client checks that they match).
func (b *backend) serveAPI(w http.ResponseWriter, r *http.Request) {
	p := strings.Split(strings.TrimPrefix(r.URL.Path, "/sql/v1beta4/"), "/")
	if len(p) < 4 || p[0] != "projects" || p[2] != "instances" {
		http.Error(w, `{"error":{"code":404,"message":"not found"}}`, http.StatusNotFound)
		return
	}
	fmt.Printf("BACKEND API %s %s\n", r.Method, r.URL.Path)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case len(p) == 5 && p[4] == "connectSettings":
		_ = json.NewEncoder(w).Encode(map[string]any{
			"kind": "sql#connectSettings", "region": "us-central1", "backendType": "SECOND_GEN",
			"databaseVersion": "POSTGRES_16",
			"ipAddresses":     []map[string]string{{"type": "PRIMARY", "ipAddress": "127.0.0.1"}},
			"serverCaCert":    map[string]string{"cert": b.caPEM},
		})
	case len(p) == 4 && strings.HasSuffix(p[3], ":generateEphemeralCert"):
		var req struct {
			PublicKey string `json:"public_key"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		blk, _ := pem.Decode([]byte(req.PublicKey))
		if blk == nil {
			http.Error(w, "no PEM public key", http.StatusBadRequest)
			return
		}
		pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		der, err := b.sign(pub, "client", x509.ExtKeyUsageClientAuth)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		cert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		_ = json.NewEncoder(w).Encode(map[string]any{"ephemeralCert": map[string]string{"cert": cert}})
	default:
		http.Error(w, `{"error":{"code":404,"message":"not found"}}`, http.StatusNotFound)
	}
}

func (b *backend) serveInstance(l net.Listener) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fmt.Printf("BACKEND ERROR %v\n", err)
		return
	}
	// Every test pod connects to project "my-project", instance "db".
	der, err := b.sign(&key.PublicKey, "my-project:db", x509.ExtKeyUsageServerAuth)
	if err != nil {
		fmt.Printf("BACKEND ERROR %v\n", err)
		return
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS13,
		ClientAuth:   tls.RequestClientCert,
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			tc := tls.Server(c, cfg)
			fmt.Println("BACKEND CONN OPEN")
			_, err := io.Copy(tc, tc)
			fmt.Printf("BACKEND CONN CLOSED %v\n", err)
		}()
	}
}
