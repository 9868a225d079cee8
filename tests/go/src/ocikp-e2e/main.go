// ocikp-e2e drives the real ocicrypt library (github.com/containers/ocicrypt)
// against key providers configured by OCICRYPT_KEYPROVIDER_CONFIG, as skopeo
// and podman do: it encrypts a random layer with provider: keys, decrypts it,
// and compares the bytes.  It is the judge of ocikp's protocol correctness.
//
//	ocikp-e2e -enc NAME:PARAM [-enc ...] -dec NAME:PARAM [-dec ...]
//	          [-dec-none] [-size N] [-dump DIR] [-from DIR]
//	          [-expect-enc-fail REGEX] [-expect-dec-fail REGEX]
//
// -enc/-dec take what follows "provider:" on skopeo's command line.
// -dump writes the layer and its annotations (one file per annotation, the
// decoded bytes) so shell tests can inspect or tamper with them; -from
// decrypts a dumped layer instead of encrypting a new one.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/containers/ocicrypt"
	"github.com/containers/ocicrypt/config"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func toBytes(l list) [][]byte {
	out := make([][]byte, 0, len(l))
	for _, s := range l {
		out = append(out, []byte(s))
	}
	return out
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "ocikp-e2e: "+format+"\n", a...)
	os.Exit(1)
}

// expect turns an error into the verdict for an expected failure.
func expect(stage string, err error, want string) bool {
	if want == "" {
		if err != nil {
			fail("%s failed: %v", stage, err)
		}
		return false
	}
	if err == nil {
		fail("%s succeeded, but a failure matching /%s/ was expected", stage, want)
	}
	if !regexp.MustCompile(want).MatchString(err.Error()) {
		fail("%s failed, but not as expected /%s/: %v", stage, want, err)
	}
	fmt.Printf("ok: %s failed as expected: %s\n", stage, strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " | "))
	return true
}

type layer struct {
	plain, enc []byte
	desc       ocispec.Descriptor
}

func encrypt(enc list, size int, want string) *layer {
	l := &layer{plain: make([]byte, size)}
	if _, err := rand.Read(l.plain); err != nil {
		fail("random: %v", err)
	}
	cc, err := config.EncryptWithKeyProvider(toBytes(enc))
	if err != nil {
		fail("encrypt config: %v", err)
	}
	l.desc = ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageLayerGzip,
		Digest:    digest.FromBytes(l.plain),
		Size:      int64(size),
	}
	r, finalize, err := ocicrypt.EncryptLayer(cc.EncryptConfig, bytes.NewReader(l.plain), l.desc)
	if err == nil {
		l.enc, err = io.ReadAll(r)
	}
	var ann map[string]string
	if err == nil {
		ann, err = finalize()
	}
	if expect("encryption", err, want) {
		os.Exit(0)
	}
	l.desc.Annotations = ann
	l.desc.Digest = digest.FromBytes(l.enc)
	l.desc.Size = int64(len(l.enc))
	return l
}

const annPrefix = "org.opencontainers.image.enc."

func dump(l *layer, dir string) {
	must := func(err error) {
		if err != nil {
			fail("dump: %v", err)
		}
	}
	must(os.MkdirAll(dir, 0o755))
	must(os.WriteFile(filepath.Join(dir, "layer.plain"), l.plain, 0o644))
	must(os.WriteFile(filepath.Join(dir, "layer.enc"), l.enc, 0o644))
	for k, v := range l.desc.Annotations {
		raw, err := base64.StdEncoding.DecodeString(v)
		must(err)
		must(os.WriteFile(filepath.Join(dir, "ann."+strings.TrimPrefix(k, annPrefix)), raw, 0o644))
	}
}

func load(dir string) *layer {
	l := &layer{desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Annotations: map[string]string{}}}
	var err error
	if l.plain, err = os.ReadFile(filepath.Join(dir, "layer.plain")); err != nil {
		fail("load: %v", err)
	}
	if l.enc, err = os.ReadFile(filepath.Join(dir, "layer.enc")); err != nil {
		fail("load: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "ann.*"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			fail("load: %v", err)
		}
		l.desc.Annotations[annPrefix+strings.TrimPrefix(filepath.Base(f), "ann.")] = base64.StdEncoding.EncodeToString(raw)
	}
	l.desc.Digest = digest.FromBytes(l.enc)
	l.desc.Size = int64(len(l.enc))
	return l
}

func decrypt(l *layer, dec list, none bool, want string) {
	dc := &config.DecryptConfig{Parameters: map[string][][]byte{}}
	if !none {
		cc, err := config.DecryptWithKeyProvider(toBytes(dec))
		if err != nil {
			fail("decrypt config: %v", err)
		}
		dc = cc.DecryptConfig
	}
	r, _, err := ocicrypt.DecryptLayer(dc, bytes.NewReader(l.enc), l.desc, false)
	var got []byte
	if err == nil {
		got, err = io.ReadAll(r)
	}
	if expect("decryption", err, want) {
		return
	}
	if !bytes.Equal(got, l.plain) {
		fail("decrypted %d bytes differ from the %d plain bytes", len(got), len(l.plain))
	}
	var names []string
	for k := range l.desc.Annotations {
		if strings.HasPrefix(k, annPrefix+"keys.") {
			names = append(names, strings.TrimPrefix(k, annPrefix+"keys."))
		}
	}
	sort.Strings(names)
	fmt.Printf("ok: decrypted %d bytes, identical to the plain layer (wrapped keys: %s)\n",
		len(got), strings.Join(names, ", "))
}

func main() {
	var enc, dec list
	flag.Var(&enc, "enc", "encryption key NAME:PARAM (repeatable)")
	flag.Var(&dec, "dec", "decryption key NAME:PARAM (repeatable)")
	none := flag.Bool("dec-none", false, "decrypt with a config that names no key")
	size := flag.Int("size", 4096, "layer size in bytes")
	dumpDir := flag.String("dump", "", "write the encrypted layer and annotations here")
	from := flag.String("from", "", "decrypt the layer dumped in this directory")
	wantEnc := flag.String("expect-enc-fail", "", "encryption must fail matching this regex")
	wantDec := flag.String("expect-dec-fail", "", "decryption must fail matching this regex")
	flag.Parse()
	if os.Getenv("OCICRYPT_KEYPROVIDER_CONFIG") == "" {
		fail("OCICRYPT_KEYPROVIDER_CONFIG is not set")
	}

	var l *layer
	if *from != "" {
		l = load(*from)
	} else {
		if len(enc) == 0 {
			fail("no -enc key")
		}
		l = encrypt(enc, *size, *wantEnc)
		fmt.Printf("ok: encrypted %d bytes for %d recipient(s)\n", len(l.plain), len(enc))
	}
	if *dumpDir != "" {
		dump(l, *dumpDir)
	}
	if len(dec) > 0 || *none {
		decrypt(l, dec, *none, *wantDec)
	}
}
