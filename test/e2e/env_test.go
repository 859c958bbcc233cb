package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// include_images registry/* matches an image deeper in that registry: its
// "*" crosses "/".
func TestImageGlobCrossesSlash(t *testing.T) {
	prefix := uniqueName(t)
	deep := "localhost:5000/team/" + prefix + ":e2e"
	docker(t, "tag", testImage, deep)
	t.Cleanup(func() { exec.Command("docker", "rmi", deep).Run() }) // after the containers are gone
	h := startHost(t, []string{"include_images=localhost:5000/*", "metrics_listen=off"})
	runLogger(t, prefix+"-plain", nil, "-n", "5", "-rate", "50")
	args := loggerRunArgs(prefix+"-deep", nil, []string{"-n", "5", "-rate", "50"})
	args[len(args)-5] = deep // the image, in place of the test image
	id := docker(t, args...)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	recs := h.waitRecords(t, 30*time.Second, "5 lines of the container from "+deep, func(r []Record) bool { return countFor(r, id) >= 5 })
	for _, r := range recs {
		if r.Body.Image != deep {
			t.Fatalf("record of %s (image %s) captured with include_images=localhost:5000/*", r.Body.Name, r.Body.Image)
		}
	}
}

// With DOCKER_HOST a tcp:// daemon that requires TLS client certificates,
// DOCKER_CERT_PATH and DOCKER_TLS_VERIFY are enough, as for the docker CLI:
// the plugin verifies the daemon with ca.pem and shows cert.pem.
func TestTLSFromDockerEnvironment(t *testing.T) {
	dir := t.TempDir()
	serverCert, pool := writeTLSFiles(t, dir)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("unix", daemonSocket)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	t.Setenv("DOCKER_HOST", "tcp://"+ln.Addr().String())
	t.Setenv("DOCKER_CERT_PATH", dir)
	t.Setenv("DOCKER_TLS_VERIFY", "1")
	prefix := uniqueName(t)
	h := startHost(t, []string{"include_names=" + prefix, "metrics_listen=off"})
	id := runLogger(t, prefix, nil, "-n", "5", "-rate", "50")
	h.waitRecords(t, 30*time.Second, "5 lines through the TLS daemon", func(r []Record) bool { return countFor(r, id) >= 5 })
}

// writeTLSFiles writes ca.pem, cert.pem and key.pem (a client certificate)
// into dir, and returns a server certificate for 127.0.0.1 signed by the
// same CA, and the CA as a pool.
func writeTLSFiles(t *testing.T, dir string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "e2e"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips, KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	write("ca.pem", "CERTIFICATE", caDER)
	clientDER, clientKey := issue(2, x509.ExtKeyUsageClientAuth, nil)
	write("cert.pem", "CERTIFICATE", clientDER)
	write("key.pem", "PRIVATE KEY", keyDER(clientKey))
	serverDER, serverKey := issue(3, x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return tls.Certificate{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}, pool
}
