package tinyllama

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// The GGUF container, version 3, as llama.cpp's gguf.cpp and Ollama's
// fs/ggml/gguf.go read it (little endian throughout):
//
//	"GGUF" uint32(3) uint64(tensors) uint64(kvs)
//	kvs:     string key, uint32 type, value
//	tensors: string name, uint32 dims, uint64 ne[dims], uint32 type, uint64 offset
//	padding to general.alignment (32), then the tensor data, each tensor
//	at its offset from there and padded to the alignment
//
// A string is uint64 length + bytes; an array is uint32 element type,
// uint64 count, the elements. Only the value types the model needs are
// written.

const (
	ggufMagic     = "GGUF"
	ggufVersion   = 3
	ggufAlignment = 32

	ggufTypeUint32  = 4
	ggufTypeInt32   = 5
	ggufTypeFloat32 = 6
	ggufTypeBool    = 7
	ggufTypeString  = 8
	ggufTypeArray   = 9

	// ggmlTypeF32 is ggml_type GGML_TYPE_F32: every tensor here is
	// float32, which every backend reads without dequantising.
	ggmlTypeF32 = 0
)

// kv is one metadata key and its value: uint32, float32, bool, string,
// []string, []float32 or []int32.
type kv struct {
	key   string
	value any
}

// tensor is one F32 tensor; ne[0] is the row length (ggml's order).
type tensor struct {
	name string
	ne   []uint64
	data []float32
}

// writeGGUF writes the container to w.
func writeGGUF(w io.Writer, kvs []kv, tensors []tensor) error {
	bw := bufio.NewWriter(w)
	e := &ggufEncoder{w: bw}
	e.raw([]byte(ggufMagic))
	e.u32(ggufVersion)
	e.u64(uint64(len(tensors)))
	e.u64(uint64(len(kvs)))
	for _, p := range kvs {
		e.str(p.key)
		e.value(p.key, p.value)
	}
	var offset uint64
	for _, t := range tensors {
		n := uint64(1)
		for _, d := range t.ne {
			n *= d
		}
		if n != uint64(len(t.data)) {
			return fmt.Errorf("write gguf: tensor %s has %d values for shape %v", t.name, len(t.data), t.ne)
		}
		e.str(t.name)
		e.u32(uint32(len(t.ne)))
		for _, d := range t.ne {
			e.u64(d)
		}
		e.u32(ggmlTypeF32)
		e.u64(offset)
		offset += pad(4 * n)
	}
	e.zeros(pad(e.n) - e.n)
	for _, t := range tensors {
		for _, f := range t.data {
			e.u32(math.Float32bits(f))
		}
		size := 4 * uint64(len(t.data))
		e.zeros(pad(size) - size)
	}
	if e.err != nil {
		return fmt.Errorf("write gguf: %w", e.err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write gguf: %w", err)
	}
	return nil
}

// pad rounds n up to the alignment.
func pad(n uint64) uint64 { return (n + ggufAlignment - 1) / ggufAlignment * ggufAlignment }

// ggufEncoder writes little-endian values, keeping the first error and
// the count of bytes written (for the padding).
type ggufEncoder struct {
	w   io.Writer
	n   uint64
	err error
}

func (e *ggufEncoder) raw(b []byte) {
	if e.err != nil {
		return
	}
	n, err := e.w.Write(b)
	e.n += uint64(n)
	e.err = err
}

func (e *ggufEncoder) u32(v uint32) { e.raw(binary.LittleEndian.AppendUint32(nil, v)) }
func (e *ggufEncoder) u64(v uint64) { e.raw(binary.LittleEndian.AppendUint64(nil, v)) }
func (e *ggufEncoder) zeros(n uint64) {
	if n > 0 {
		e.raw(make([]byte, n))
	}
}

func (e *ggufEncoder) str(s string) {
	e.u64(uint64(len(s)))
	e.raw([]byte(s))
}

func (e *ggufEncoder) value(key string, v any) {
	switch v := v.(type) {
	case uint32:
		e.u32(ggufTypeUint32)
		e.u32(v)
	case float32:
		e.u32(ggufTypeFloat32)
		e.u32(math.Float32bits(v))
	case bool:
		e.u32(ggufTypeBool)
		b := byte(0)
		if v {
			b = 1
		}
		e.raw([]byte{b})
	case string:
		e.u32(ggufTypeString)
		e.str(v)
	case []string:
		e.arrayHeader(ggufTypeString, len(v))
		for _, s := range v {
			e.str(s)
		}
	case []float32:
		e.arrayHeader(ggufTypeFloat32, len(v))
		for _, f := range v {
			e.u32(math.Float32bits(f))
		}
	case []int32:
		e.arrayHeader(ggufTypeInt32, len(v))
		for _, i := range v {
			e.u32(uint32(i))
		}
	default:
		if e.err == nil {
			e.err = fmt.Errorf("key %s: value type %T is not written", key, v)
		}
	}
}

func (e *ggufEncoder) arrayHeader(elem uint32, n int) {
	e.u32(ggufTypeArray)
	e.u32(elem)
	e.u64(uint64(n))
}
