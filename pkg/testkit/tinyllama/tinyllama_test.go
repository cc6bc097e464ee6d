package tinyllama

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// gguf is a file read back by readGGUF, an independent reader written
// from the format's description (not from the writer), so a layout
// mistake in one is not hidden by the same mistake in the other.
type gguf struct {
	kv      map[string]any
	tensors map[string]ggufTensor
}

type ggufTensor struct {
	ne     []uint64
	offset uint64 // absolute, in the file
	data   []float32
}

func readGGUF(t *testing.T, b []byte) gguf {
	t.Helper()
	r := bytes.NewReader(b)
	rd := func(v any) {
		if err := binary.Read(r, binary.LittleEndian, v); err != nil {
			t.Fatalf("read gguf at %d: %v", len(b)-r.Len(), err)
		}
	}
	str := func() string {
		var n uint64
		rd(&n)
		s := make([]byte, n)
		if _, err := io.ReadFull(r, s); err != nil {
			t.Fatal(err)
		}
		return string(s)
	}
	var magic [4]byte
	var version uint32
	var nt, nkv uint64
	rd(&magic)
	rd(&version)
	rd(&nt)
	rd(&nkv)
	if string(magic[:]) != "GGUF" || version != 3 {
		t.Fatalf("magic %q version %d", magic, version)
	}
	var scalar func(typ uint32) any
	scalar = func(typ uint32) any {
		switch typ {
		case 4:
			var v uint32
			rd(&v)
			return v
		case 5:
			var v int32
			rd(&v)
			return v
		case 6:
			var v float32
			rd(&v)
			return v
		case 7:
			var v uint8
			rd(&v)
			return v == 1
		case 8:
			return str()
		case 9:
			var et uint32
			var n uint64
			rd(&et)
			rd(&n)
			a := make([]any, n)
			for i := range a {
				a[i] = scalar(et)
			}
			return a
		}
		t.Fatalf("unexpected gguf type %d", typ)
		return nil
	}
	f := gguf{kv: map[string]any{}, tensors: map[string]ggufTensor{}}
	for range nkv {
		k := str()
		var typ uint32
		rd(&typ)
		f.kv[k] = scalar(typ)
	}
	type info struct {
		name string
		ne   []uint64
		off  uint64
	}
	var infos []info
	for range nt {
		in := info{name: str()}
		var dims, typ uint32
		rd(&dims)
		in.ne = make([]uint64, dims)
		for i := range in.ne {
			rd(&in.ne[i])
		}
		rd(&typ)
		rd(&in.off)
		if typ != 0 {
			t.Fatalf("tensor %s: type %d, want F32 (0)", in.name, typ)
		}
		infos = append(infos, in)
	}
	pos := uint64(len(b) - r.Len())
	base := (pos + 31) / 32 * 32
	for _, in := range infos {
		n := uint64(1)
		for _, d := range in.ne {
			n *= d
		}
		start := base + in.off
		if start%32 != 0 {
			t.Fatalf("tensor %s at %d: not 32-byte aligned", in.name, start)
		}
		if start+4*n > uint64(len(b)) {
			t.Fatalf("tensor %s: %d values at %d run past the file's %d bytes", in.name, n, start, len(b))
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[start+4*uint64(i):]))
		}
		f.tensors[in.name] = ggufTensor{ne: in.ne, offset: start, data: data}
	}
	return f
}

func write(t *testing.T, cfg Config) (*Model, []byte) {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := m.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo says %d bytes, wrote %d", n, buf.Len())
	}
	return m, buf.Bytes()
}

// walk runs the model's forward pass as llama.cpp computes it for this
// model (the block adds zero: embedding, RMSNorm, output projection) from
// the tensors read back, greedily from a prompt ending in token start,
// for n tokens, stopping at </s>. It fails when a step's winner leads the
// runner-up by less than the margin.
func walk(t *testing.T, f gguf, start, n int) []string {
	t.Helper()
	toks := f.kv["tokenizer.ggml.tokens"].([]any)
	emb, out := f.tensors["token_embd.weight"], f.tensors["output.weight"]
	d := int(emb.ne[0])
	eps := float64(f.kv["llama.attention.layer_norm_rms_epsilon"].(float32))
	norm := f.tensors["output_norm.weight"].data
	var words []string
	tok := start
	for range n {
		x := emb.data[tok*d : (tok+1)*d]
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		scale := 1 / math.Sqrt(ss/float64(d)+eps)
		best, second, arg := math.Inf(-1), math.Inf(-1), -1
		for j := range len(toks) {
			var logit float64
			for i := range d {
				logit += float64(out.data[j*d+i]) * float64(x[i]) * scale * float64(norm[i])
			}
			switch {
			case logit > best:
				best, second, arg = logit, best, j
			case logit > second:
				second = logit
			}
		}
		if best-second < Margin*0.99 {
			t.Fatalf("after %q the next token %q leads by %.3f, want about %d", toks[tok], toks[arg], best-second, Margin)
		}
		if arg == tokEOS {
			break
		}
		words = append(words, toks[arg].(string))
		tok = arg
	}
	return words
}

func TestTheGreedyWalkIsTheWords(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		steps int
		want  []string
	}{
		{"counting loops", Config{Words: Counting(5)}, 12, strings.Fields("1 2 3 4 5 1 2 3 4 5 1 2")},
		{"stop ends with end of sequence", Config{Words: []string{"4"}, Stop: true}, 10, []string{"4"}},
		{"words", Config{Words: strings.Fields("the council answers 4 then 7"), Stop: true}, 10, strings.Fields("the council answers 4 then 7")},
		{"the default counts to 200", Config{}, 201, append(Counting(200), "1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, b := write(t, tc.cfg)
			f := readGGUF(t, b)
			// Any byte or control token ends a chat template: each starts
			// the same walk.
			m, _ := New(tc.cfg)
			vocab := firstWord + len(m.cfg.Words) // a vocabulary token
			for _, start := range []int{tokBOS, firstByte + ':', firstByte + '\n', tokUnk, vocab, len(m.tokens) - 1} {
				got := walk(t, f, start, tc.steps)
				want := make([]string, len(tc.want))
				for i, w := range tc.want {
					want[i] = spaceMark + w
				}
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Fatalf("from token %d the walk is %q, want %q", start, got, want)
				}
			}
		})
	}
}

func TestNoTokenRepeatsTwiceInARow(t *testing.T) {
	// Ollama ends a stream after 30 repeats of one token: a loop of two
	// words alternates (and New refuses a loop of one).
	_, b := write(t, Config{Words: []string{"a", "b"}})
	got := walk(t, readGGUF(t, b), tokBOS, 50)
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Fatalf("token %q twice in a row at %d: %q", got[i], i, got)
		}
	}
}

func TestMetadata(t *testing.T) {
	m, b := write(t, Config{Words: Counting(100), FeedForward: 96, ContextLength: 512, Vocabulary: []string{}})
	f := readGGUF(t, b)
	for k, want := range map[string]any{
		"general.architecture":            "llama",
		"llama.context_length":            uint32(512),
		"llama.embedding_length":          uint32(128),
		"llama.feed_forward_length":       uint32(96),
		"llama.block_count":               uint32(1),
		"llama.attention.head_count":      uint32(2),
		"llama.rope.dimension_count":      uint32(64),
		"llama.vocab_size":                uint32(3 + 256 + 100),
		"tokenizer.ggml.model":            "llama",
		"tokenizer.ggml.eos_token_id":     uint32(2),
		"tokenizer.ggml.add_bos_token":    true,
		"tokenizer.chat_template":         ChatTemplate,
		"tokenizer.ggml.unknown_token_id": uint32(0),
	} {
		if got := f.kv[k]; got != want {
			t.Errorf("%s = %v (%T), want %v (%T)", k, got, got, want, want)
		}
	}
	if m.Width() != 128 {
		t.Errorf("width %d, want 128", m.Width())
	}
	toks := f.kv["tokenizer.ggml.tokens"].([]any)
	types := f.kv["tokenizer.ggml.token_type"].([]any)
	for i, want := range map[int]string{0: "<unk>", 1: "<s>", 2: "</s>", 3: "<0x00>", 3 + 0x0A: "<0x0A>", 258: "<0xFF>", 259: "\u25811", 358: "\u2581100"} {
		if toks[i] != want {
			t.Errorf("token %d = %q, want %q", i, toks[i], want)
		}
	}
	for i, want := range map[int]int32{0: typeUnknown, 1: typeControl, 2: typeControl, 3: typeByte, 258: typeByte, 259: typeNormal} {
		if types[i] != want {
			t.Errorf("token %d type %v, want %d", i, types[i], want)
		}
	}
	// Every tensor llama.cpp's LLM_ARCH_LLAMA loader requires, with its
	// shape in ggml's order.
	for name, ne := range map[string][]uint64{
		"token_embd.weight": {128, 359}, "output.weight": {128, 359}, "output_norm.weight": {128},
		"blk.0.attn_q.weight": {128, 128}, "blk.0.attn_output.weight": {128, 128}, "blk.0.ffn_gate.weight": {128, 96},
		"blk.0.ffn_down.weight": {96, 128}, "blk.0.ffn_norm.weight": {128}, "blk.0.attn_norm.weight": {128},
	} {
		if got := fmt.Sprint(f.tensors[name].ne); got != fmt.Sprint(ne) {
			t.Errorf("tensor %s shape %s, want %v", name, got, ne)
		}
	}
	if len(f.tensors) != 12 {
		t.Errorf("%d tensors, want 12", len(f.tensors))
	}
}

func TestVocabularyHasEveryPrefix(t *testing.T) {
	m, err := New(Config{Words: Counting(3), Vocabulary: []string{"river", "rain", "don't"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"\u25811", "\u25812", "\u25813",
		"\u2581r", "\u2581ri", "\u2581riv", "\u2581rive", "\u2581river", "\u2581ra", "\u2581rai", "\u2581rain",
		"\u2581d", "\u2581do", "\u2581don", "\u2581don'", "\u2581don't"}
	if got := m.tokens[firstWord:]; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("tokens after the bytes %q, want %q", got, want)
	}
	// The default vocabulary holds pace's and the canary's words.
	d, _ := New(Config{})
	for _, w := range []string{"river", "count", "Respond", "assistant"} {
		if !slices.Contains(d.tokens, spaceMark+w) {
			t.Errorf("the default vocabulary lacks %q", w)
		}
	}
	for _, bad := range []string{"a:b", "x y", "", "é"} {
		if _, err := New(Config{Vocabulary: []string{bad}}); err == nil {
			t.Errorf("vocabulary word %q accepted", bad)
		}
	}
}

func TestDeterministicAndSmall(t *testing.T) {
	_, a := write(t, Config{})
	_, b := write(t, Config{})
	if !bytes.Equal(a, b) {
		t.Fatal("two writes of one config differ")
	}
	if len(a) > 8<<20 {
		t.Fatalf("the default model is %d bytes; a test model stays a few MB", len(a))
	}
}

func TestWriteFile(t *testing.T) {
	m, want := write(t, Config{Words: Counting(3)})
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the file differs from WriteTo's bytes")
	}
}

func TestAnswer(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		n    int
		want string
	}{
		{Config{Words: Counting(3)}, 7, " 1 2 3 1 2 3 1"},
		{Config{Words: []string{"4"}, Stop: true}, 16, " 4"},
		{Config{}, 4, " 1 2 3 4"},
	} {
		m, err := New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Answer(tc.n); got != tc.want {
			t.Errorf("Answer(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no words":            {Words: []string{}},
		"repeated word":       {Words: []string{"a", "b", "a"}},
		"word with space":     {Words: []string{"a b"}},
		"empty word":          {Words: []string{""}},
		"too many words":      {Words: Counting(maxWidth)},
		"negative ffn":        {FeedForward: -1},
		"one word that loops": {Words: []string{"4"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(cfg); err == nil {
				t.Fatalf("New(%+v) accepted", cfg)
			}
		})
	}
}
