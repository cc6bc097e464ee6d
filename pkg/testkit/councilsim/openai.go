package councilsim

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"
)

// apiHandler serves the OpenAI-compatible endpoints, with the faults that
// apply to every endpoint handled first.
func (s *Sim) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", s.handleModels)
	mux.HandleFunc("POST /v1/chat/completions", s.handleChat)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found_error", fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch s.Fault() {
		case FaultHangAll:
			s.hang(r.Context())
			return
		case Fault500:
			s.apiError(w, http.StatusInternalServerError, "server_error", "simulated internal server error (council-sim fault 500)")
			return
		case FaultEmpty:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusOK)
			return
		case FaultHTML:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			fmt.Fprint(w, "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><h1>council-sim: simulated HTML page</h1></body></html>\n")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// bearerChecked requires "Authorization: Bearer <token>" when a token is
// configured. The comparison is constant-time; the token is never logged.
func (s *Sim) bearerChecked(h http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return h
	}
	want := []byte("Bearer " + s.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// hang_all hangs before anything else, as a wedged server would.
		if s.Fault() == FaultHangAll {
			s.hang(r.Context())
			return
		}
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="council-sim"`)
			writeError(w, http.StatusUnauthorized, "authentication_error", "missing or invalid bearer token")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// hang blocks until the client gives up or the simulator closes. On close
// it aborts the response, so a hung request never turns into an empty 200.
func (s *Sim) hang(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.done:
		panic(http.ErrAbortHandler)
	}
}

// sleep waits d, or less if the client gives up or the simulator closes. It
// reports whether the full delay passed.
func (s *Sim) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.done:
	}
	return false
}

type modelList struct {
	Object string  `json:"object"`
	Data   []model `json:"data"`
}

type model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	// MaxModelLen is vLLM's context window (its personality only).
	MaxModelLen int `json:"max_model_len,omitempty"`
}

func (s *Sim) handleModels(w http.ResponseWriter, r *http.Request) {
	list := modelList{Object: "list", Data: []model{}}
	for _, id := range s.listedModels(r) {
		m := model{ID: id, Object: "model", Created: s.now().Unix(), OwnedBy: "council-sim"}
		if s.persona.kind == PersonalityVLLM {
			m.OwnedBy, m.MaxModelLen = "vllm", s.ContextWindow()
		}
		list.Data = append(list.Data, m)
	}
	writeJSON(w, http.StatusOK, list)
}

// chatRequest is the part of an OpenAI chat request the simulator reads.
type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages"`
	Stream        bool          `json:"stream"`
	MaxTokens     int           `json:"max_tokens"`
	MaxCompletion int           `json:"max_completion_tokens"`
	Logprobs      bool          `json:"logprobs"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// text returns the message content, a string or an array of text parts.
func (m chatMessage) text() string {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(m.Content, &parts) != nil {
		return ""
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

type chatResponse struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	// SystemFingerprint is set when the pace has a fingerprint.
	SystemFingerprint string       `json:"system_fingerprint,omitempty"`
	Choices           []chatChoice `json:"choices"`
	Usage             *usage       `json:"usage,omitempty"`
}

type chatChoice struct {
	Index        int       `json:"index"`
	Message      *chatOut  `json:"message,omitempty"`
	Delta        *chatOut  `json:"delta,omitempty"`
	Logprobs     *logprobs `json:"logprobs,omitempty"`
	FinishReason *string   `json:"finish_reason"`
}

type chatOut struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type logprobs struct {
	Content []tokenLogprob `json:"content"`
}

type tokenLogprob struct {
	Token       string  `json:"token"`
	Logprob     float64 `json:"logprob"`
	Bytes       []int   `json:"bytes"`
	TopLogprobs []any   `json:"top_logprobs"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func (s *Sim) handleChat(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	var req chatRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		s.apiError(w, http.StatusBadRequest, "invalid_request_error", "invalid JSON body: "+err.Error())
		return
	}
	if len(req.Messages) == 0 {
		s.apiError(w, http.StatusBadRequest, "invalid_request_error", "messages must not be empty")
		return
	}
	modelID := req.Model
	if modelID == "" {
		modelID = s.models[0]
	} else if !s.servesModel(r, modelID) {
		s.apiError(w, http.StatusNotFound, "model_not_found", fmt.Sprintf("model %q not found (serving %s)", modelID, strings.Join(s.models, ", ")))
		return
	}

	s.mu.Lock()
	fault, slowDelay, divergeAfter, pace, others := s.fault, s.slowDelay, s.divergeAfter, s.pace, s.otherClients
	s.mu.Unlock()
	s.logOtherClients(others)

	if !s.processFault(r.Context(), fault, slowDelay) {
		return
	}
	switch fault {
	case FaultHang:
		s.hang(r.Context())
		return
	case FaultSlow:
		if !s.sleep(r.Context(), slowDelay) {
			return
		}
	}

	fit := s.fitPrompt(n, req.Messages, fault)
	if fit.Refused != "" {
		writeError(w, http.StatusBadRequest, "exceed_context_size_error", fit.Refused)
		return
	}
	prompt := fit.Visible
	limit := req.MaxTokens
	if req.MaxCompletion > 0 {
		limit = req.MaxCompletion
	}
	tokens, finish := s.answerFor(r, n, fault, prompt, limit, divergeAfter)
	promptTokens := fit.PromptTokens
	s.shiftContext(n, fault, promptTokens, len(tokens))
	u := usage{PromptTokens: promptTokens, CompletionTokens: len(tokens), TotalTokens: promptTokens + len(tokens)}
	if fault == FaultUsageLies {
		u.CompletionTokens, u.TotalTokens = UsageLie, promptTokens+UsageLie
	}
	reportedModel, fingerprint := s.reportedIdentity(fault, modelID, pace.Fingerprint, n)
	base := chatResponse{
		ID:      fmt.Sprintf("chatcmpl-sim-%d", n),
		Created: s.now().Unix(),
		Model:   reportedModel,

		SystemFingerprint: fingerprint,
	}
	if base.SystemFingerprint == "" && s.persona.kind == PersonalityOllama {
		base.SystemFingerprint = ollamaFingerprint
	}
	if req.Stream {
		s.streamChat(w, r, base, tokens, finish, u, req, fault, pace)
		return
	}
	if !s.waitAnswer(r.Context(), pace, len(tokens)) {
		return
	}
	writeAnswer(w, base, tokens, finish, u, req.Logprobs)
}

// answerFor is the answer's tokens under fault (a wrong one, garbage, a
// loop, a divergence after divergeAfter tokens, the request's own
// credentials echoed: the faults' answers; else the table's), cut at
// limit with finish_reason "length".
func (s *Sim) answerFor(r *http.Request, n int64, fault Fault, prompt string, limit, divergeAfter int) (tokens []string, finish string) {
	switch fault {
	case FaultWrong:
		tokens = Tokenize("5")
	case FaultFourteen:
		tokens = Tokenize("14")
	case FaultGarbage:
		tokens = garbageTokens(uint64(n))
	case FaultDiverge:
		tokens = divergeTokens(Tokenize(s.Answer(prompt)), divergeAfter)
	case FaultEchoAuth:
		tokens = Tokenize(echoAnswer(r))
	case FaultLoop:
		tokens = loopTokens(s.answerTokens(prompt, limit), limit+1)
	default:
		tokens = s.answerTokens(prompt, limit)
	}
	tokens = endingFault(fault, tokens, limit)
	finish = "stop"
	if limit > 0 && len(tokens) > limit {
		tokens, finish = tokens[:limit], "length"
	}
	return tokens, finish
}

// writeAnswer writes a whole (not streamed) chat completion.
func writeAnswer(w http.ResponseWriter, base chatResponse, tokens []string, finish string, u usage, withLogprobs bool) {
	content := strings.Join(tokens, "")
	resp := base
	resp.Object = "chat.completion"
	choice := chatChoice{Message: &chatOut{Role: "assistant", Content: &content}, FinishReason: &finish}
	if withLogprobs {
		choice.Logprobs = &logprobs{Content: tokenLogprobs(tokens)}
	}
	resp.Choices = []chatChoice{choice}
	resp.Usage = &u
	writeJSON(w, http.StatusOK, resp)
}

// streamChat writes the answer as server-sent events: a role chunk, one
// chunk per token, a chunk with finish_reason, an optional usage chunk,
// then "data: [DONE]" (faults sse_stall and no_done break this).
func (s *Sim) streamChat(w http.ResponseWriter, r *http.Request, base chatResponse, tokens []string, finish string, u usage, req chatRequest, fault Fault, pace Pace) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	if fault == FaultBuffered {
		held := &heldWriter{ResponseWriter: w}
		defer held.release()
		w = held
	}
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	send := func(c chatResponse) bool {
		c.Object = "chat.completion.chunk"
		b, err := json.Marshal(c)
		if err != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, "data: %s%s%s", b, eventEnd(fault), eventEnd(fault)); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	chunk := func(ch chatChoice) chatResponse {
		c := base
		c.Choices = []chatChoice{ch}
		return c
	}
	empty := ""
	if !send(chunk(chatChoice{Delta: &chatOut{Role: "assistant", Content: &empty}})) {
		return
	}
	for i, tok := range tokens {
		if fault == FaultSSEStall && i == 1 {
			s.hang(r.Context())
			return
		}
		if !s.waitToken(r.Context(), pace, i) {
			return
		}
		ch := chatChoice{Delta: &chatOut{Role: s.deltaRole(), Content: &tok}}
		if req.Logprobs {
			ch.Logprobs = &logprobs{Content: tokenLogprobs([]string{tok})}
		}
		if !send(chunk(ch)) {
			return
		}
	}
	if fault == FaultSSEStall {
		// An answer of one token: stall after it instead.
		s.hang(r.Context())
		return
	}
	last := &chatOut{}
	if s.persona.kind == PersonalityOllama {
		last = &chatOut{Role: "assistant", Content: &empty}
	}
	if !send(chunk(chatChoice{Delta: last, FinishReason: &finish})) {
		return
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		c := base
		c.Choices = []chatChoice{}
		c.Usage = &u
		if !send(c) {
			return
		}
	}
	if fault == FaultNoDone {
		return
	}
	fmt.Fprint(w, "data: [DONE]"+eventEnd(fault)+eventEnd(fault))
	rc.Flush()
}

func (s *Sim) hasModel(id string) bool {
	for _, m := range s.models {
		if m == id {
			return true
		}
	}
	return false
}

// answerRule is one prompt substring and its answer.
type answerRule struct{ substring, answer string }

// newAnswerRules orders the configured answers longest substring first (ties
// by name), so the most specific match wins deterministically, and appends
// the built-in "2+2" -> "4".
func newAnswerRules(m map[string]string) []answerRule {
	rules := make([]answerRule, 0, len(m)+1)
	for k, v := range m {
		if k != "" {
			rules = append(rules, answerRule{k, v})
		}
	}
	sort.Slice(rules, func(i, j int) bool {
		if len(rules[i].substring) != len(rules[j].substring) {
			return len(rules[i].substring) > len(rules[j].substring)
		}
		return rules[i].substring < rules[j].substring
	})
	return append(rules, answerRule{"2+2", "4"})
}

// Answer returns the fault-free answer to prompt.
func (s *Sim) Answer(prompt string) string {
	for _, r := range s.answers {
		if strings.Contains(prompt, r.substring) {
			return r.answer
		}
	}
	if s.cfg.DefaultAnswer != "" {
		return s.cfg.DefaultAnswer
	}
	return DefaultAnswer
}

// lastUserText is the text of the last user message, or of all messages if
// none has the user role.
func lastUserText(msgs []chatMessage) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return msgs[i].text()
		}
	}
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(m.text())
		b.WriteByte('\n')
	}
	return b.String()
}

var tokenRE = regexp.MustCompile(`\s*\S+|\s+`)

// Tokenize splits s into the simulator's tokens: each run of non-space
// characters with the whitespace before it. Joining the tokens gives s back.
func Tokenize(s string) []string {
	return tokenRE.FindAllString(s, -1)
}

// divergeMarker replaces every token after the diverging point; it never
// equals a normal token because it carries a leading space and a marker.
const divergeMarker = " ~diverged~"

// divergeTokens keeps the first n tokens and replaces the rest, so a
// token-by-token comparison finds a common prefix of exactly n (if the
// answer is no longer than n, a diverging token is appended).
func divergeTokens(tokens []string, n int) []string {
	if n > len(tokens) {
		n = len(tokens)
	}
	out := append([]string(nil), tokens[:n]...)
	rest := len(tokens) - n
	if rest < 1 {
		rest = 1
	}
	for range rest {
		out = append(out, divergeMarker)
	}
	return out
}

var garbage = []string{"\x00", "\ufffd", "\x1b[", "<unk>", "\u200b", "\x07", "Ġ", "Ã\u0083", "\x7f", "<0x0F>", "\ufffd\ufffd", "\x02"}

// garbageTokens returns a deterministic (per seed) answer of garbage
// tokens, like a model emitting from corrupted weights.
func garbageTokens(seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]string, 12)
	for i := range out {
		out[i] = garbage[rng.IntN(len(garbage))]
	}
	return out
}

func tokenLogprobs(tokens []string) []tokenLogprob {
	out := make([]tokenLogprob, len(tokens))
	for i, t := range tokens {
		b := make([]int, len(t))
		for j := 0; j < len(t); j++ {
			b[j] = int(t[j])
		}
		out[i] = tokenLogprob{Token: t, Logprob: 0, Bytes: b, TopLogprobs: []any{}}
	}
	return out
}

type apiError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    int    `json:"code"`
	} `json:"error"`
}

// apiError writes an error of the OpenAI-compatible endpoints the way the
// personality's server does; see ollamaError for Ollama's.
func (s *Sim) apiError(w http.ResponseWriter, status int, typ, msg string) {
	if s.persona.kind == PersonalityOllama {
		ollamaError(w, status, msg)
		return
	}
	writeError(w, status, typ, msg)
}

// deltaRole is the role a stream's token chunks carry: none after the
// first chunk in OpenAI's shape, "assistant" in every chunk on Ollama.
func (s *Sim) deltaRole() string {
	if s.persona.kind == PersonalityOllama {
		return "assistant"
	}
	return ""
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	var e apiError
	e.Error.Message, e.Error.Type, e.Error.Code = msg, typ, status
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"council-sim: encode response","type":"server_error","code":500}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
