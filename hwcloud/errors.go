package hwcloud

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
)

// Retryable reports whether an error of a cloud call is transient, so the
// same call may succeed later: throttling, a server error, a timeout, a
// dropped or refused connection, or the caller's context ending (shutdown:
// the work is not done and should come again). Everything else is permanent
// and retrying it changes nothing: a 4xx other than 429 (bad request, auth,
// not found), a TLS or certificate failure, a host name that does not
// resolve, a malformed endpoint. Unknown errors count as permanent, so a
// misconfiguration surfaces instead of being retried for ever.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var sre *sdkerr.ServiceResponseError
	if errors.As(err, &sre) {
		return sre.StatusCode == http.StatusTooManyRequests || sre.StatusCode >= 500
	}
	var te *sdkerr.RequestTimeoutError
	if errors.As(err, &te) {
		return true
	}
	if permanentTransport(err) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var ce *sdkerr.ConnectionError
	return errors.As(err, &ce) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// permanentTransport reports failures below HTTP that the same request will
// meet again: the certificate, the TLS handshake, the host name.
func permanentTransport(err error) bool {
	var (
		unknownCA   x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalidCert x509.CertificateInvalidError
		verify      *tls.CertificateVerificationError
		record      tls.RecordHeaderError
		alert       tls.AlertError
		dns         *net.DNSError
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalidCert),
		errors.As(err, &verify), errors.As(err, &record), errors.As(err, &alert):
		return true
	case errors.As(err, &dns):
		// A name that does not exist stays so; a resolver that timed out may answer next time.
		return !dns.IsTimeout && !dns.IsTemporary
	}
	return false
}

// StatusCode returns the HTTP status of an SDK error, or 0 when none came back.
func StatusCode(err error) int {
	var sre *sdkerr.ServiceResponseError
	if errors.As(err, &sre) {
		return sre.StatusCode
	}
	return 0
}

// ErrorCode returns the cloud's error code of an SDK error (Ecs.0122,
// AS.2019, ...), or "" when the cloud gave none.
func ErrorCode(err error) string {
	var sre *sdkerr.ServiceResponseError
	if errors.As(err, &sre) {
		return sre.ErrorCode
	}
	return ""
}
