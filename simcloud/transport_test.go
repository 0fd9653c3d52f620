package simcloud_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	sdkconfig "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	as "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1"
	asmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/redis/go-redis/v9"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/internal/testenv"
	"github.com/flexus-autoscaler/flexus/simcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "simcloud"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTheSDKTalksHTTPSThroughExporterToolkit(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, []byte("tls_server_config:\n  cert_file: "+certFile+"\n  key_file: "+keyFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := simcloud.NewServer(simcloudtest.Config(), clock.NewFake(time.Now()), promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreePort(t)
	// The port probe below makes a TLS handshake fail; keep that out of the test log.
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go web.ListenAndServe(hs, &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: new(bool), WebConfigFile: &webConfig}, promslog.NewNopLogger())
	t.Cleanup(func() { hs.Close() })
	testenv.WaitTCP(t, addr, 5*time.Second, "")

	cred := basic.NewCredentialsBuilder().WithAk(simcloudtest.AccessKey).WithSk(simcloudtest.SecretKey).WithProjectId(simcloudtest.ProjectID).Build()
	hc := sdkconfig.DefaultHttpConfig().WithTimeout(5 * time.Second).
		WithHttpTransport(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	c := as.NewAsClient(as.AsClientBuilder().WithEndpoints([]string{"https://" + addr}).WithCredential(cred).WithHttpConfig(hc).Build())
	resp, err := c.ListScalingGroups(&asmodel.ListScalingGroupsRequest{})
	if err != nil {
		t.Fatalf("over https: %v", err)
	}
	if *resp.TotalNumber != 1 {
		t.Fatalf("over https: %d groups", *resp.TotalNumber)
	}
}

func TestQueuesAreMirroredIntoRedis(t *testing.T) {
	addr := testenv.Redis(t)
	cfg := simcloudtest.Config()
	cfg.Redis.Address = addr
	start := time.Now().Truncate(time.Minute)
	clk := clock.NewFake(start)
	env := simcloudtest.Start(t, cfg, clk)
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	ctx := context.Background()
	key := "queue:gpu-pool"

	// gpu-pool serves 40 rps and gets 12: a 5x spike adds 20 waiting requests a second.
	if err := env.World.SetDemandMultiplier("gpu-pool", 5); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second)
	if err := env.Server.Step(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := env.World.Group("gpu-pool")
	n, err := rc.LLen(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if st.Queue < 100 || float64(n) != float64(int64(st.Queue+0.5)) {
		t.Fatalf("Redis list %s holds %d items, the queue is %g", key, n, st.Queue)
	}
	_ = env.World.SetDemandMultiplier("gpu-pool", 0.1)
	clk.Advance(2 * time.Minute)
	if err := env.Server.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := rc.LLen(ctx, key).Result(); n != 0 {
		t.Fatalf("the drained queue leaves %d items in Redis", n)
	}
}
