package hwcloud

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	"github.com/prometheus/client_golang/prometheus"
)

// urlErr wraps err as the SDK returns a transport failure: a *url.Error.
func urlErr(err error) error {
	return &url.Error{Op: "Get", URL: "https://as.cn-north-4.myhuaweicloud.com/autoscaling-api/v1/p/scaling_group/g1", Err: err}
}

func dial(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"a 429 is throttling: transient", &sdkerr.ServiceResponseError{StatusCode: 429}, true},
		{"a 500 is a server error: transient", &sdkerr.ServiceResponseError{StatusCode: 500}, true},
		{"a 503 is a server error: transient", &sdkerr.ServiceResponseError{StatusCode: 503}, true},
		{"a 400 is a bad request: permanent", &sdkerr.ServiceResponseError{StatusCode: 400}, false},
		{"a 401 is bad credentials: permanent", &sdkerr.ServiceResponseError{StatusCode: 401}, false},
		{"a 403 is a missing permission: permanent", &sdkerr.ServiceResponseError{StatusCode: 403}, false},
		{"a 404 is a wrong id: permanent", &sdkerr.ServiceResponseError{StatusCode: 404}, false},
		{"a wrapped 5xx is still transient", fmt.Errorf("as ShowScalingGroup: %w", &sdkerr.ServiceResponseError{StatusCode: 502}), true},
		{"a request timeout is transient", urlErr(&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}), true},
		{"a reset connection is transient", urlErr(&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), true},
		{"a refused connection is transient (a restarting endpoint)", urlErr(dial(os.NewSyscallError("connect", syscall.ECONNREFUSED))), true},
		{"a connection closed mid-answer is transient", urlErr(io.ErrUnexpectedEOF), true},
		{"an unknown host name is permanent", urlErr(dial(&net.DNSError{Err: "no such host", Name: "as.nowhere.invalid", IsNotFound: true})), false},
		{"a resolver timeout is transient", urlErr(dial(&net.DNSError{Err: "i/o timeout", Name: "as.cn-north-4.myhuaweicloud.com", IsTimeout: true})), true},
		{"an untrusted certificate is permanent", urlErr(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), false},
		{"a certificate for another host is permanent", urlErr(x509.HostnameError{Host: "simcloud"}), false},
		{"plain HTTP on a TLS endpoint is permanent", urlErr(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), false},
		{"a malformed endpoint is permanent", urlErr(errors.New(`unsupported protocol scheme ""`)), false},
		{"the caller's cancellation is transient: the work comes again", fmt.Errorf("as ShowScalingGroup: %w", context.Canceled), true},
		{"an error of unknown kind is permanent", errors.New("hwcloud: credentials missing"), false},
		{"no error is not retryable", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Retryable(tc.err); got != tc.want {
				t.Fatalf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// A TLS failure is a misconfiguration: the client tries once and reports it
// as permanent, so the actuator refuses rather than answering 503 for ever.
func TestUntrustedCertificateIsNotRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
	}))
	defer srv.Close()
	cl := testClients(t, Config{Endpoint: srv.URL, RetryBaseDelay: time.Millisecond}, prometheus.NewRegistry())
	_, err := cl.AS.Group(context.Background(), "g1")
	if err == nil || Retryable(err) {
		t.Fatalf("err %v, want a permanent TLS error", err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d requests reached the handler through an untrusted certificate", n)
	}
}
