// Package tinyllama writes a tiny llama model as a GGUF file, for tests
// that need a real inference server (Ollama, llama-server) to serve a
// model without downloading one. The file is a few MB, deterministic (the
// same Config gives the same bytes), and every server that reads llama
// GGUF files loads it: a real architecture ("llama"), a real SentencePiece
// vocabulary, a chat template.
//
// Its weights are engineered, not trained and not random. A model with
// random weights degenerates: greedy decoding falls into a loop, often one
// token repeated, and Ollama silently ends a stream after 30 identical
// tokens (llm/server.go in ollama/ollama v0.17.4, in Completion: "30
// picked as an arbitrary max token repeat limit"; the stream then ends
// with HTTP 200, no finish_reason and no [DONE]). A test needs an answer
// it can predict and that runs to max_tokens, so the model is built as a
// bigram machine whose greedy walk is the Config's Words:
//
//   - one transformer block whose attention and feed-forward outputs are
//     zero (wo and ffn_down are zero matrices), so the residual stream
//     leaving the block is the last token's embedding, unchanged: what
//     the model says next depends on the last token only;
//   - the embedding width d is a power of two, and each word of the walk
//     is embedded as its own row of the d x d Sylvester-Hadamard matrix
//     (entries +-1, rows pairwise orthogonal); every other token (the
//     byte tokens, <s>, </s>, <unk>, the Vocabulary) shares row 0, the
//     "start" direction.
//     RMSNorm maps a +-1 row to itself, so the final norm changes nothing;
//   - the output projection's row for word k is (margin/d) times the
//     Hadamard row of the token before it in the walk (the start
//     direction for the first word, and for it also the last word's when
//     the walk loops). Its logit is then exactly margin after its
//     predecessor and 0 after any other token (orthogonality); every
//     other token's logit is 0. Greedy decoding therefore walks the words
//     in order whatever the prompt (a prompt ending in a byte or control
//     token, as every chat template here does, starts at the first word),
//     and a margin of 24 keeps the walk even at temperature 1 and through
//     a repeat penalty (which divides a positive logit by about 1.1).
//
// With Stop the token after the last word is </s> (end of sequence), so
// the model gives a short, complete answer; without it the walk loops and
// the answer runs until max_tokens, never repeating a token twice in a row.
// FeedForward only sets how much arithmetic each token costs (the
// feed-forward block is computed, then multiplied by zero), for tests that
// want a server kept busy longer.
package tinyllama

import (
	"bytes"
	"fmt"
	"io"
	"math/bits"
	"regexp"
	"strconv"
	"strings"

	"github.com/sanctum/council-probes/pkg/core/atomicfile"
)

// Config shapes the model.
type Config struct {
	// Words is the model's answer to every prompt, one token per word,
	// each written with a leading space (SentencePiece's "▁"). Words must
	// be distinct, non-empty and free of spaces. Default: Counting(200).
	Words []string
	// Stop ends the answer with end-of-sequence after the last word;
	// otherwise the walk starts over at the first word and the answer is
	// cut only by the request's token limit.
	Stop bool
	// FeedForward is the feed-forward block's hidden width (default 256):
	// CPU per token, nothing else.
	FeedForward int
	// ContextLength is llama.context_length, the context the model says
	// it was trained for (default 8192); servers cap their context to it.
	ContextLength int
	// Vocabulary are words the tokenizer knows whole (each with a leading
	// "▁", and every prefix of it, which SentencePiece's merges need on
	// the way), so that English prompts take about one token per word,
	// as with a real model's vocabulary (pace sizes its prompt in words).
	// They are never generated. Letters, digits, ' and - only; nil means
	// CommonWords, empty none (every character not in a word of the walk
	// is then one or more byte tokens).
	Vocabulary []string
}

// CommonWords is the default Vocabulary: common English words, the words
// of pace's prompt and the canary's question, and the roles of the chat
// template.
var CommonWords = strings.Fields(`the of and to a in is it you that he was for on are with as I his they be
	at one have this from or had by hot word but what some we can out other were all there when up use your
	how said an each she which do their time if will way about many then them write would like so these her
	long make thing see him two has look more day could go come did number sound no most people my over know
	water than call first who may down side been now find any new work part take get place made live where
	after back little only round man year came show every good me give our under name very through just form
	sentence great think say help low line differ turn cause much mean before move right boy old too same
	tell does set three want air well also play small end put home read hand port large spell add even land
	here must big high such follow act why ask men change went light kind off need house picture try us again
	animal point mother world near build self earth father head stand own page should country found answer
	school grow study still learn plant cover food sun four between state keep eye never last let thought city
	tree cross farm hard start might story saw far sea draw left late run don't while press close night real
	life few north Request The next lines are filler text ignore their meaning river runs past house old man
	reads book window rain falls green field dog sleeps near warm fire Now count upward per separated single
	spaces with no other do not stop until cut off What Respond only user assistant system`)

// Counting returns the words "1" to "n": the answer of a model that
// counts, as pace's prompt asks.
func Counting(n int) []string {
	w := make([]string, n)
	for i := range w {
		w[i] = strconv.Itoa(i + 1)
	}
	return w
}

// Margin is the logit of the next word of the walk; every other logit is 0.
const Margin = 24

const (
	defaultFeedForward   = 256
	defaultContextLength = 8192
	// maxWidth bounds the embedding width (and so the words: one fewer).
	maxWidth = 1024
	headDim  = 64
	// The SentencePiece token types llama.cpp reads (llama_token_type).
	typeNormal  = 1
	typeUnknown = 2
	typeControl = 3
	typeByte    = 6
	// The fixed token ids: <unk>, <s>, </s>, then the 256 byte tokens,
	// then the words.
	tokUnk, tokBOS, tokEOS = 0, 1, 2
	firstByte              = 3
	firstWord              = firstByte + 256
)

// spaceMark is SentencePiece's word-boundary mark, U+2581.
const spaceMark = "\u2581"

// ChatTemplate is the Jinja chat template written into the file
// (tokenizer.chat_template), for servers that render it (llama-server).
// It ends with "assistant:", whose last token is a byte token: the walk
// starts at the first word.
const ChatTemplate = "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}" +
	"{% if add_generation_prompt %}assistant:{% endif %}"

// Model is the model a Config describes, ready to write.
type Model struct {
	cfg    Config
	width  int
	tokens []string
}

// New checks cfg and fills in its defaults.
func New(cfg Config) (*Model, error) {
	if cfg.Words == nil {
		cfg.Words = Counting(200)
	}
	if cfg.FeedForward == 0 {
		cfg.FeedForward = defaultFeedForward
	}
	if cfg.ContextLength == 0 {
		cfg.ContextLength = defaultContextLength
	}
	if cfg.Vocabulary == nil {
		cfg.Vocabulary = CommonWords
	}
	if len(cfg.Words) == 0 {
		return nil, fmt.Errorf("tiny llama: no words")
	}
	if len(cfg.Words) == 1 && !cfg.Stop {
		return nil, fmt.Errorf("tiny llama: one word that loops repeats one token, and Ollama cuts such a stream after 30 (set Stop)")
	}
	if cfg.FeedForward < 1 || cfg.ContextLength < 1 {
		return nil, fmt.Errorf("tiny llama: feed-forward %d and context length %d must be positive", cfg.FeedForward, cfg.ContextLength)
	}
	width := max(headDim, 1<<bits.Len(uint(len(cfg.Words)))) // > len(Words): row 0 is the start
	if width > maxWidth {
		return nil, fmt.Errorf("tiny llama: %d words, at most %d", len(cfg.Words), maxWidth-1)
	}
	m := &Model{cfg: cfg, width: width, tokens: []string{"<unk>", "<s>", "</s>"}}
	for b := range 256 {
		m.tokens = append(m.tokens, fmt.Sprintf("<0x%02X>", b))
	}
	seen := map[string]bool{}
	for _, w := range cfg.Words {
		if w == "" || strings.ContainsAny(w, " \t\r\n"+spaceMark) || seen[w] {
			return nil, fmt.Errorf("tiny llama: word %q is empty, repeated or holds a space", w)
		}
		seen[w] = true
		m.tokens = append(m.tokens, spaceMark+w)
	}
	known := map[string]bool{}
	for _, t := range m.tokens {
		known[t] = true
	}
	for _, w := range cfg.Vocabulary {
		if !vocabularyWord.MatchString(w) {
			return nil, fmt.Errorf("tiny llama: vocabulary word %q: letters, digits, ' and - only", w)
		}
		for i := range w {
			if p := spaceMark + w[:i+1]; !known[p] {
				known[p] = true
				m.tokens = append(m.tokens, p)
			}
		}
	}
	return m, nil
}

// vocabularyWord is what a Vocabulary word may hold: nothing a chat
// template ends with (":" above all), so a prompt's last token stays a
// byte token and the walk starts at its first word.
var vocabularyWord = regexp.MustCompile(`^[A-Za-z0-9'-]+$`)

// Width is the embedding width.
func (m *Model) Width() int { return m.width }

// Answer is the text of the model's first n tokens after a prompt that
// ends in a byte or control token (every chat template here), as a server
// detokenises it: each word with a space before it, stopping early at
// end-of-sequence when the Config says Stop.
func (m *Model) Answer(n int) string {
	var b strings.Builder
	for i := range n {
		k := i % len(m.cfg.Words)
		if m.cfg.Stop && i == len(m.cfg.Words) {
			break
		}
		b.WriteString(" " + m.cfg.Words[k])
	}
	return b.String()
}

// hadamard is entry (i, j) of the Sylvester-Hadamard matrix: +1 or -1.
func hadamard(i, j int) float32 {
	if bits.OnesCount(uint(i&j))%2 == 1 {
		return -1
	}
	return 1
}

// isWord reports whether tok is a word of the walk.
func (m *Model) isWord(tok int) bool { return tok >= firstWord && tok < firstWord+len(m.cfg.Words) }

// direction is the Hadamard row a token is embedded as: 1+k for word k,
// 0 (the start) for every other token.
func (m *Model) direction(tok int) int {
	if m.isWord(tok) {
		return 1 + tok - firstWord
	}
	return 0
}

// predecessors are the directions after which tok is the next token.
func (m *Model) predecessors(tok int) []int {
	n := len(m.cfg.Words)
	switch {
	case tok == firstWord:
		if m.cfg.Stop {
			return []int{0}
		}
		return []int{0, n} // the start, and the last word when looping
	case m.isWord(tok) && tok > firstWord:
		return []int{tok - firstWord} // word k follows word k-1 (direction k)
	case tok == tokEOS && m.cfg.Stop:
		return []int{n}
	}
	return nil
}

func (m *Model) kvs() []kv {
	d, nv := m.width, len(m.tokens)
	scores := make([]float32, nv)
	types := make([]int32, nv)
	for i := range m.tokens {
		switch {
		case i == tokUnk:
			types[i] = typeUnknown
		case i < firstByte:
			types[i] = typeControl
		case i < firstWord:
			types[i] = typeByte
		default: // the walk's words and the vocabulary
			types[i] = typeNormal
		}
	}
	return []kv{
		{"general.architecture", "llama"},
		{"general.name", "council-tiny-llama"},
		{"general.file_type", uint32(0)}, // ALL_F32
		{"llama.context_length", uint32(m.cfg.ContextLength)},
		{"llama.embedding_length", uint32(d)},
		{"llama.block_count", uint32(1)},
		{"llama.feed_forward_length", uint32(m.cfg.FeedForward)},
		{"llama.attention.head_count", uint32(d / headDim)},
		{"llama.attention.head_count_kv", uint32(d / headDim)},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
		{"llama.rope.dimension_count", uint32(headDim)},
		{"llama.rope.freq_base", float32(10000)},
		{"llama.vocab_size", uint32(nv)},
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", m.tokens},
		{"tokenizer.ggml.scores", scores},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.unknown_token_id", uint32(tokUnk)},
		{"tokenizer.ggml.bos_token_id", uint32(tokBOS)},
		{"tokenizer.ggml.eos_token_id", uint32(tokEOS)},
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.add_eos_token", false},
		{"tokenizer.chat_template", ChatTemplate},
	}
}

func (m *Model) tensors() []tensor {
	d, nv, ff := m.width, len(m.tokens), m.cfg.FeedForward
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	zeros := func(n int) []float32 { return make([]float32, n) }
	embd := make([]float32, nv*d)
	out := make([]float32, nv*d)
	scale := float32(Margin) / float32(d)
	for tok := range nv {
		dir := m.direction(tok)
		for j := range d {
			embd[tok*d+j] = hadamard(dir, j)
		}
		for _, p := range m.predecessors(tok) {
			for j := range d {
				out[tok*d+j] += scale * hadamard(p, j)
			}
		}
	}
	u := uint64(d)
	return []tensor{
		{"token_embd.weight", []uint64{u, uint64(nv)}, embd},
		{"output_norm.weight", []uint64{u}, ones(d)},
		{"output.weight", []uint64{u, uint64(nv)}, out},
		{"blk.0.attn_norm.weight", []uint64{u}, ones(d)},
		{"blk.0.attn_q.weight", []uint64{u, u}, zeros(d * d)},
		{"blk.0.attn_k.weight", []uint64{u, u}, zeros(d * d)},
		{"blk.0.attn_v.weight", []uint64{u, u}, zeros(d * d)},
		{"blk.0.attn_output.weight", []uint64{u, u}, zeros(d * d)},
		{"blk.0.ffn_norm.weight", []uint64{u}, ones(d)},
		{"blk.0.ffn_gate.weight", []uint64{u, uint64(ff)}, zeros(d * ff)},
		{"blk.0.ffn_up.weight", []uint64{u, uint64(ff)}, zeros(d * ff)},
		{"blk.0.ffn_down.weight", []uint64{uint64(ff), u}, zeros(d * ff)},
	}
}

// WriteTo writes the GGUF file to w.
func (m *Model) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	err := writeGGUF(cw, m.kvs(), m.tensors())
	return cw.n, err
}

// WriteFile writes the model to path atomically (a temporary file
// renamed into place), mode 0644.
func (m *Model) WriteFile(path string) error {
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf.Bytes(), 0o644)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
