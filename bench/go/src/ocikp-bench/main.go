// ocikp-bench times the real ocicrypt library (github.com/containers/ocicrypt)
// against a key provider configured by OCICRYPT_KEYPROVIDER_CONFIG, whether
// the entry names a command ({"cmd": ...}, one exec per call) or a gRPC
// service ({"grpc": "unix:///path"}, ocikpd), or against ocicrypt's built-in
// JWE recipient.  It prints figures as key=value pairs; it is not a test,
// though it checks every decrypted layer and fails on a wrong byte.
//
//	ocikp-bench -mode unwrap -n N -key NAME:PARAM [-parallel P]
//	    one layer encrypted once, then N DecryptLayer calls (one UnWrapKey
//	    each); prints p50, p99, mean latency, throughput, and the CPU time
//	    per call of this process and of its children (exec'd providers)
//	ocikp-bench -mode rpc -n N -key NAME:PARAM [-parallel P]
//	    the same, but UnWrapKey called directly over one kept gRPC
//	    connection (ocicrypt dials one per call): the daemon's floor
//	ocikp-bench -mode image -layers L -key NAME:PARAM | -jwe [-jwe-key rsa|ec] [-runs R]
//	    L small layers encrypted, then decrypted, R times; prints the median
//	    wall time of each direction and the CPU time of a round (this
//	    process and its children)
//
// Layers are small (-size, default 1 KiB) so that the figures are the cost
// of wrapping and unwrapping keys, not of AES.
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containers/ocicrypt"
	"github.com/containers/ocicrypt/config"
	kpconfig "github.com/containers/ocicrypt/config/keyprovider-config"
	"github.com/containers/ocicrypt/keywrap/keyprovider"
	kppb "github.com/containers/ocicrypt/utils/keyprovider"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc"
)

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "ocikp-bench: "+format+"\n", a...)
	os.Exit(1)
}

type layer struct {
	plain, enc []byte
	desc       ocispec.Descriptor
}

func randomLayer(size int) *layer {
	l := &layer{plain: make([]byte, size)}
	if _, err := rand.Read(l.plain); err != nil {
		fail("random: %v", err)
	}
	return l
}

// encrypt seals l.plain for ec; the key provider's WrapKey runs in finalize.
func encrypt(ec *config.EncryptConfig, l *layer) error {
	desc := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageLayerGzip,
		Digest:    digest.FromBytes(l.plain),
		Size:      int64(len(l.plain)),
	}
	r, finalize, err := ocicrypt.EncryptLayer(ec, bytes.NewReader(l.plain), desc)
	if err != nil {
		return err
	}
	if l.enc, err = io.ReadAll(r); err != nil {
		return err
	}
	if desc.Annotations, err = finalize(); err != nil {
		return err
	}
	desc.Digest = digest.FromBytes(l.enc)
	desc.Size = int64(len(l.enc))
	l.desc = desc
	return nil
}

// decrypt opens l.enc (the key provider's UnWrapKey runs in DecryptLayer)
// and checks the bytes.
func decrypt(dc *config.DecryptConfig, l *layer) error {
	r, _, err := ocicrypt.DecryptLayer(dc, bytes.NewReader(l.enc), l.desc, false)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, l.plain) {
		return fmt.Errorf("decrypted %d bytes differ from the %d plain bytes", len(got), len(l.plain))
	}
	return nil
}

// configs builds the encrypt and decrypt configurations: a provider: key, or
// a fresh JWE key pair (RSA-2048 or P-256) when key is empty.
func configs(key, jweKey string) (*config.EncryptConfig, *config.DecryptConfig) {
	if key != "" {
		ec, err := config.EncryptWithKeyProvider([][]byte{[]byte(key)})
		if err != nil {
			fail("encrypt config: %v", err)
		}
		dc, err := config.DecryptWithKeyProvider([][]byte{[]byte(key)})
		if err != nil {
			fail("decrypt config: %v", err)
		}
		return ec.EncryptConfig, dc.DecryptConfig
	}
	var priv crypto.Signer
	var err error
	switch jweKey {
	case "rsa":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ec":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		fail("-jwe-key: rsa or ec, not %q", jweKey)
	}
	if err != nil {
		fail("key pair: %v", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		fail("private key: %v", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.(crypto.Signer).Public())
	if err != nil {
		fail("public key: %v", err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
	ec, err := config.EncryptWithJwe([][]byte{pubPEM})
	if err != nil {
		fail("encrypt config: %v", err)
	}
	dc, err := config.DecryptWithPrivKeys([][]byte{privPEM}, [][]byte{nil})
	if err != nil {
		fail("decrypt config: %v", err)
	}
	return ec.EncryptConfig, dc.DecryptConfig
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pct is the nearest-rank percentile p (0-100) of sorted durations.
func pct(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)/2]
}

// each runs f(i) for i in [0, n) on p goroutines; the first error wins.
func each(n, p int, f func(i int) error) error {
	var mu sync.Mutex
	var first error
	next := 0
	var wg sync.WaitGroup
	for w := 0; w < p; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if stop || i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("layer %d: %w", i, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// cpu is the user + system time of this process (self) or of its waited-for
// children (the exec'd providers).
func cpu(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		fail("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchUnwrap(ec *config.EncryptConfig, dc *config.DecryptConfig, n, par, size, warm int) {
	l := randomLayer(size)
	if err := encrypt(ec, l); err != nil {
		fail("encryption: %v", err)
	}
	timeCalls("unwrap", n, par, warm, func() error { return decrypt(dc, l) })
}

// timeCalls runs call warm times untimed, then n times on par goroutines,
// and prints the latency figures and the CPU time per call.
func timeCalls(what string, n, par, warm int, call func() error) {
	for i := 0; i < warm; i++ {
		if err := call(); err != nil {
			fail("warm-up %s: %v", what, err)
		}
	}
	lat := make([]time.Duration, n)
	self, kids := cpu(syscall.RUSAGE_SELF), cpu(syscall.RUSAGE_CHILDREN)
	start := time.Now()
	err := each(n, par, func(i int) error {
		t := time.Now()
		err := call()
		lat[i] = time.Since(t)
		return err
	})
	wall := time.Since(start)
	self, kids = cpu(syscall.RUSAGE_SELF)-self, cpu(syscall.RUSAGE_CHILDREN)-kids
	if err != nil {
		fail("%s: %v", what, err)
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("%s n=%d parallel=%d p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f max_ms=%.3f rps=%.1f"+
		" cpu_client_ms=%.3f cpu_children_ms=%.3f\n",
		what, n, par, ms(pct(lat, 50)), ms(pct(lat, 99)), ms(sum/time.Duration(n)), ms(lat[n-1]),
		float64(n)/wall.Seconds(), ms(self/time.Duration(n)), ms(kids/time.Duration(n)))
}

// benchRPC calls UnWrapKey itself over one kept gRPC connection, with the
// request ocicrypt would send: the floor under ocicrypt's figure, which
// dials a new connection for every call.
func benchRPC(ec *config.EncryptConfig, dc *config.DecryptConfig, key string, n, par, size, warm int) {
	name := strings.SplitN(key, ":", 2)[0]
	cfg, err := kpconfig.GetConfiguration()
	if err != nil || cfg == nil {
		fail("ocicrypt configuration: %v", err)
	}
	target := cfg.KeyProviderConfig[name].Grpc
	if target == "" {
		fail("provider %q has no grpc entry in OCICRYPT_KEYPROVIDER_CONFIG", name)
	}
	l := randomLayer(size)
	if err := encrypt(ec, l); err != nil {
		fail("encryption: %v", err)
	}
	ann, err := base64.StdEncoding.DecodeString(l.desc.Annotations["org.opencontainers.image.enc.keys.provider."+name])
	if err != nil || len(ann) == 0 {
		fail("no annotation for provider %q", name)
	}
	in, err := json.Marshal(keyprovider.KeyProviderKeyWrapProtocolInput{
		Operation:       keyprovider.OpKeyUnwrap,
		KeyUnwrapParams: keyprovider.KeyUnwrapParams{Dc: dc, Annotation: ann},
	})
	if err != nil {
		fail("request: %v", err)
	}
	cc, err := grpc.Dial(target, grpc.WithInsecure())
	if err != nil {
		fail("dial %s: %v", target, err)
	}
	defer cc.Close()
	client := kppb.NewKeyProviderServiceClient(cc)
	call := func() error {
		out, err := client.UnWrapKey(context.Background(), &kppb.KeyProviderKeyWrapProtocolInput{KeyProviderKeyWrapProtocolInput: in})
		if err != nil {
			return err
		}
		var res keyprovider.KeyProviderKeyWrapProtocolOutput
		if err := json.Unmarshal(out.GetKeyProviderKeyWrapProtocolOutput(), &res); err != nil {
			return err
		}
		if len(res.KeyUnwrapResults.OptsData) == 0 {
			return fmt.Errorf("no optsdata in the answer")
		}
		return nil
	}
	timeCalls("rpc", n, par, warm, call)
}

func benchImage(ec *config.EncryptConfig, dc *config.DecryptConfig, nlayers, par, size, runs int) {
	layers := make([]*layer, nlayers)
	for i := range layers {
		layers[i] = randomLayer(size)
	}
	// One untimed round: page in the code paths, start a provider's caches.
	encTimes := make([]time.Duration, 0, runs)
	decTimes := make([]time.Duration, 0, runs)
	var self, kids time.Duration
	for r := -1; r < runs; r++ {
		if r == 0 {
			self, kids = cpu(syscall.RUSAGE_SELF), cpu(syscall.RUSAGE_CHILDREN)
		}
		t := time.Now()
		if err := each(nlayers, par, func(i int) error { return encrypt(ec, layers[i]) }); err != nil {
			fail("encryption: %v", err)
		}
		enc := time.Since(t)
		t = time.Now()
		if err := each(nlayers, par, func(i int) error { return decrypt(dc, layers[i]) }); err != nil {
			fail("decryption: %v", err)
		}
		dec := time.Since(t)
		if r >= 0 {
			encTimes = append(encTimes, enc)
			decTimes = append(decTimes, dec)
		}
	}
	self, kids = cpu(syscall.RUSAGE_SELF)-self, cpu(syscall.RUSAGE_CHILDREN)-kids
	e, d := median(encTimes), median(decTimes)
	fmt.Printf("image layers=%d size=%d parallel=%d runs=%d encrypt_ms=%.2f decrypt_ms=%.2f total_ms=%.2f"+
		" cpu_client_ms=%.2f cpu_children_ms=%.2f\n", nlayers, size, par, runs, ms(e), ms(d), ms(e+d),
		ms(self/time.Duration(runs)), ms(kids/time.Duration(runs)))
}

func main() {
	mode := flag.String("mode", "", "unwrap, rpc or image")
	key := flag.String("key", "", "provider key NAME:PARAM (what follows provider: on skopeo's command line)")
	jwe := flag.Bool("jwe", false, "use ocicrypt's built-in JWE recipient instead of a key provider")
	jweKey := flag.String("jwe-key", "rsa", "JWE key pair: rsa (2048) or ec (P-256)")
	n := flag.Int("n", 1000, "unwrap, rpc: number of calls")
	warm := flag.Int("warm", 3, "unwrap, rpc: untimed calls first")
	nlayers := flag.Int("layers", 20, "image: number of layers")
	runs := flag.Int("runs", 5, "image: timed rounds (the median is printed)")
	size := flag.Int("size", 1024, "layer size in bytes")
	par := flag.Int("parallel", 1, "calls in flight at once")
	flag.Parse()
	if *jwe == (*key != "") {
		fail("give one of -key NAME:PARAM or -jwe")
	}
	if *key != "" && os.Getenv("OCICRYPT_KEYPROVIDER_CONFIG") == "" {
		fail("OCICRYPT_KEYPROVIDER_CONFIG is not set")
	}
	if *n < 1 || *nlayers < 1 || *runs < 1 || *par < 1 || *size < 1 {
		fail("-n, -layers, -runs, -parallel and -size must be positive")
	}
	ec, dc := configs(*key, *jweKey)
	switch *mode {
	case "unwrap":
		benchUnwrap(ec, dc, *n, *par, *size, *warm)
	case "rpc":
		if *key == "" {
			fail("-mode rpc needs -key")
		}
		benchRPC(ec, dc, *key, *n, *par, *size, *warm)
	case "image":
		benchImage(ec, dc, *nlayers, *par, *size, *runs)
	default:
		fail("-mode: unwrap, rpc or image")
	}
}
