package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAdminAPI stands in, on loopback, for the one Google service the proxy calls before a
// client has connected: the Cloud SQL Admin API. The proxy asks it for an instance's
// database engine when it creates a unix socket (PostgreSQL gets a directory holding
// .s.PGSQL.5432) and, once a client connects, for the instance's addresses and an
// ephemeral client certificate. Everything else the tier runs is the real thing; without
// this the unix-socket listeners could not start offline, and every test connection would
// make the proxy look up Google's API host on the network.
//
// It answers like the real API for second-generation instances whose region matches the
// connection name; an instance whose name contains "mysql" is MySQL, any other PostgreSQL.
// Every address it hands out is 127.0.0.1 on a closed port, so the proxy's dial to the
// "instance" fails fast, on this machine. It also serves /token, the OAuth2 token endpoint
// of the fake service-account keys the runs use.
type fakeAdminAPI struct {
	URL    string
	caPEM  string
	caKey  *rsa.PrivateKey
	caCert *x509.Certificate

	mu      sync.Mutex
	regions map[string]string // "project/instance" -> region
	calls   map[string]int    // "connectSettings project/instance" -> count
}

var (
	adminAPIOnce sync.Once
	adminAPI     *fakeAdminAPI
	adminAPIErr  error
	adminAPISrv  *httptest.Server
)

// sharedAdminAPI is started once per test binary and closed by TestMain.
func sharedAdminAPI(t *testing.T) *fakeAdminAPI {
	t.Helper()
	adminAPIOnce.Do(func() { adminAPI, adminAPISrv, adminAPIErr = newFakeAdminAPI() })
	if adminAPIErr != nil {
		t.Fatalf("fake SQL Admin API: %v", adminAPIErr)
	}
	return adminAPI
}

func newFakeAdminAPI() (*fakeAdminAPI, *httptest.Server, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "e2e Cloud SQL server CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	f := &fakeAdminAPI{
		caPEM:   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		caKey:   key,
		caCert:  cert,
		regions: map[string]string{},
		calls:   map[string]int{},
	}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = srv.URL + "/"
	return f, srv, nil
}

// register tells the fake which region an instance is in, as the real API knows.
func (f *fakeAdminAPI) register(connName string) error {
	parts := strings.Split(connName, ":")
	if len(parts) != 3 {
		return fmt.Errorf("connection name %q is not project:region:instance", connName)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.regions[parts[0]+"/"+parts[2]] = parts[1]
	return nil
}

func (f *fakeAdminAPI) callCount(what, connName string) int {
	parts := strings.Split(connName, ":")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[what+" "+parts[0]+"/"+parts[len(parts)-1]]
}

func (f *fakeAdminAPI) serve(w http.ResponseWriter, r *http.Request) {
	// The OAuth2 token endpoint of the fake service-account keys: the proxy exchanges a
	// key for an access token before it calls the API.
	if r.URL.Path == "/token" && r.Method == http.MethodPost {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "e2e", "token_type": "Bearer", "expires_in": 3600})
		return
	}
	// /sql/v1beta4/projects/{project}/instances/{instance}/connectSettings (GET)
	// /sql/v1beta4/projects/{project}/instances/{instance}:generateEphemeralCert (POST)
	p := strings.Split(strings.TrimPrefix(r.URL.Path, "/sql/v1beta4/"), "/")
	if len(p) < 4 || p[0] != "projects" || p[2] != "instances" {
		http.Error(w, `{"error":{"code":404,"message":"not found"}}`, http.StatusNotFound)
		return
	}
	project, instance, what := p[1], p[3], ""
	switch {
	case len(p) == 5 && p[4] == "connectSettings" && r.Method == http.MethodGet:
		what = "connectSettings"
	case len(p) == 4 && strings.HasSuffix(instance, ":generateEphemeralCert") && r.Method == http.MethodPost:
		what, instance = "generateEphemeralCert", strings.TrimSuffix(instance, ":generateEphemeralCert")
	default:
		http.Error(w, `{"error":{"code":404,"message":"not found"}}`, http.StatusNotFound)
		return
	}
	f.mu.Lock()
	region, known := f.regions[project+"/"+instance]
	f.calls[what+" "+project+"/"+instance]++
	f.mu.Unlock()
	if !known {
		http.Error(w, `{"error":{"code":404,"message":"instance not found"}}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch what {
	case "connectSettings":
		version := "POSTGRES_16"
		if strings.Contains(instance, "mysql") {
			version = "MYSQL_8_0"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"kind":            "sql#connectSettings",
			"region":          region,
			"backendType":     "SECOND_GEN",
			"databaseVersion": version,
			"ipAddresses": []map[string]string{
				{"type": "PRIMARY", "ipAddress": "127.0.0.1"},
				{"type": "PRIVATE", "ipAddress": "127.0.0.1"},
			},
			"pscEnabled": true,
			"dnsNames": []map[string]string{
				{"name": "localhost.", "connectionType": "PRIVATE_SERVICE_CONNECT", "dnsScope": "INSTANCE"},
			},
			"serverCaCert": map[string]string{"cert": f.caPEM},
		})
	case "generateEphemeralCert":
		var req struct {
			PublicKey string `json:"public_key"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		cert, err := f.sign(req.PublicKey)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ephemeralCert": map[string]string{"cert": cert}})
	}
}

func (f *fakeAdminAPI) sign(pubPEM string) (string, error) {
	b, _ := pem.Decode([]byte(pubPEM))
	if b == nil {
		return "", fmt.Errorf("no PEM public key")
	}
	pub, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "e2e client"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.caCert, pub, f.caKey)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}

// fakeServiceAccountKey returns a service-account key file of the shape Google issues, with
// a fresh private key and tokenURI as its token endpoint (fakeAdminAPI's), so the proxy
// can use it as it would a real one and never reaches Google with it.
func fakeServiceAccountKey(tokenURI string) ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "e2e-project",
		"private_key_id": "e2e",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "e2e@e2e-project.iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      tokenURI,
	})
}
