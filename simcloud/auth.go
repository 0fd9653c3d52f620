package simcloud

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

const (
	sdkHmacSha256   = "SDK-HMAC-SHA256"
	sdkDateFormat   = "20060102T150405Z"
	headerSdkDate   = "X-Sdk-Date"
	headerSdkSHA256 = "X-Sdk-Content-Sha256"
)

// verifySignature checks an SDK-HMAC-SHA256 Authorization header the way
// the SDK's signer (core/auth/signer) builds it: the canonical request is
// method, path, sorted query, signed headers and the body's SHA-256.
func verifySignature(r *http.Request, body []byte, ak, sk string, now time.Time, skew time.Duration) error {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return fmt.Errorf("the request carries no Authorization header: sign it with %s", sdkHmacSha256)
	}
	rest, ok := strings.CutPrefix(auth, sdkHmacSha256+" ")
	if !ok {
		return fmt.Errorf("the Authorization header is not %s", sdkHmacSha256)
	}
	var access, signedHeaders, signature string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Access":
			access = v
		case "SignedHeaders":
			signedHeaders = v
		case "Signature":
			signature = v
		}
	}
	if access == "" || signedHeaders == "" || signature == "" {
		return fmt.Errorf("the Authorization header lacks Access, SignedHeaders or Signature")
	}
	if !hmac.Equal([]byte(access), []byte(ak)) {
		return fmt.Errorf("the access key %q is not known", access)
	}
	date := r.Header.Get(headerSdkDate)
	t, err := time.Parse(sdkDateFormat, date)
	if err != nil {
		return fmt.Errorf("the %s header %q is not a date like 20060102T150405Z", headerSdkDate, date)
	}
	if d := now.Sub(t); d > skew || d < -skew {
		return fmt.Errorf("the %s header %s is more than %s from the server's clock %s", headerSdkDate, date, skew, now.UTC().Format(sdkDateFormat))
	}
	names := strings.Split(signedHeaders, ";")
	if !contains(names, strings.ToLower(headerSdkDate)) {
		return fmt.Errorf("%s must be a signed header", headerSdkDate)
	}
	bodyHash := r.Header.Get(headerSdkSHA256)
	if bodyHash == "" {
		sum := sha256.Sum256(body)
		bodyHash = hex.EncodeToString(sum[:])
	}
	canonical := strings.Join([]string{
		r.Method,
		canonicalURI(r.URL.Path),
		canonicalQuery(r.URL.Query()),
		canonicalHeaders(r, names),
		signedHeaders,
		bodyHash,
	}, "\n")
	crHash := sha256.Sum256([]byte(canonical))
	sts := sdkHmacSha256 + "\n" + date + "\n" + hex.EncodeToString(crHash[:])
	mac := hmac.New(sha256.New, []byte(sk))
	mac.Write([]byte(sts))
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return fmt.Errorf("the signature does not match the request: check the secret key and that nothing changed the request after signing")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func canonicalURI(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		parts[i] = sdkEscape(p)
	}
	u := strings.Join(parts, "/")
	if !strings.HasSuffix(u, "/") {
		u += "/"
	}
	return u
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			out = append(out, sdkEscape(k)+"="+sdkEscape(v))
		}
	}
	return strings.Join(out, "&")
}

// canonicalHeaders mirrors the SDK, which signs the header values it set
// itself; the Host header never appears among them, so a signed "host" is
// taken from the request line.
func canonicalHeaders(r *http.Request, names []string) string {
	var b strings.Builder
	for _, name := range names {
		var vs []string
		if name == "host" {
			vs = []string{r.Host}
		} else {
			vs = append(vs, r.Header.Values(name)...)
		}
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(name)
			b.WriteByte(':')
			b.WriteString(strings.TrimSpace(v))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func sdkEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '~' || c == '.' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&15])
	}
	return b.String()
}
