package backend

import (
	"bytes"
	"math"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// promCases are bodies that exercise the corners of the text format; each
// is also a seed of FuzzParsePrometheus.
var promCases = []string{
	"",
	"\n\n",
	"# just a comment\n",
	"# HELP a help text with \\\\ and \\n escapes\n# TYPE a gauge\na 1\n",
	"# TYPE a:b gauge\na:b NaN\na:b{x=\"1\"} +Inf\na:b{x=\"2\"} 3\n",
	"a 1\na 2\n",
	"a{x=\"1\"} 1\na{x=\"1\"} 2\n",
	"a{x=\"a \\\"quoted\\\" } value\",y=\"back\\\\slash\\nnewline\"} 4\n",
	"a{x=\"1\",} 5\n",
	"  \ta { x = \"1\" , y=\"2\" }   6 1712345678000\n",
	"a -Inf\nb +Inf\nc NaN\nd -0\ne 1e308\nf 1.5E-3\n",
	"a Inf\nb inf\nc nan\nd infinity\n",
	"a 0x1p3\n",
	"a 1_000\n",
	"a 1 12x\n",
	"a 1 1 extra\n",
	"a 1 \n",
	"a\t1\t2\n",
	"{\"my.metric\",x=\"1\"} 7\n",
	"{\"my.metric\"} 8\n",
	"{x=\"1\",\"my.metric\"} 9\n",
	"{x=\"1\"} 9\n",
	"# TYPE \"my.metric\" counter\n{\"my.metric\"} 10\n",
	"a{\"my.label\"=\"v\"} 11\n",
	"a\"b\" 12\n",
	"# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 10\ns_count 3\n",
	"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
	"# TYPE h gaugehistogram\nh_bucket{le=\"+Inf\"} 2\nh_gsum 3\n",
	"x_count 1\n# TYPE x summary\nx_count 2\nx_sum 3\n",
	"# HELP y y\ny_sum 1\n# TYPE y summary\ny_sum 2\n",
	"# TYPE c counter\n# TYPE c gauge\nc 1\n",
	"c 1\n# TYPE c gauge\n",
	"# TYPE c COUNTER\nc 1\n",
	"# TYPE c gau\\ge\nc 1\n",
	"# TYPE c bogus\nc 1\n",
	"# TYPE c_sum counter\n# TYPE c summary\nc_sum 1\n",
	"#TYPE d gauge\nd 1\n",
	"# HELP\n# TYPE\n# TYPE e\n",
	"a 1\r\n",
	"a 1", // no final newline: expfmt refuses it, the reader reads it
	"vllm:num_requests_running{engine=\"0\"} 3\nvllm:num_requests_running{engine=\"1\"} 1\n",
	"<html><body>Not Found</body></html>\n",
	"a{x=\"1\" 1\n",
	"a{x=\"1\"}} 1\n",
	"a{=\"1\"} 1\n",
	"a{__name__=\"b\"} 1\n",
	"a{x=\"\\q\"} 1\n",
	"a{x=\"1\",x=\"2\"} 1\n",
}

// expfmtValues is what the code read through expfmt before the reader:
// each family with a sample, and the finite values of its counter, gauge
// and untyped samples.
func expfmtValues(body []byte) (map[string][]float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	out := map[string][]float64{}
	for name, fam := range fams {
		vals := []float64{}
		for _, m := range fam.GetMetric() {
			if v, ok := oracleValue(m); ok {
				vals = append(vals, v)
			}
		}
		out[name] = vals
	}
	return out, nil
}

func oracleValue(m *dto.Metric) (float64, bool) {
	var v float64
	switch {
	case m.Gauge != nil:
		v = m.Gauge.GetValue()
	case m.Counter != nil:
		v = m.Counter.GetValue()
	case m.Untyped != nil:
		v = m.Untyped.GetValue()
	default:
		return 0, false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

func finite(vs []float64) []float64 {
	out := []float64{}
	for _, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	return out
}

// agreeWithExpfmt fails t when expfmt accepts body and the reader's answer
// (fams, err: ParsePrometheus(body)) is an error, other families or
// values, or another Sum or Max than the adapters would get from expfmt;
// it reports whether expfmt accepted the body.
func agreeWithExpfmt(t *testing.T, body []byte, fams Families, err error) bool {
	t.Helper()
	want, oerr := expfmtValues(body)
	if oerr != nil {
		return false
	}
	if err != nil {
		t.Fatalf("expfmt reads %q, the reader refuses it: %v", body, err)
	}
	for name, vals := range want {
		f, ok := fams[name]
		if !ok {
			t.Fatalf("%q: expfmt reads family %q, the reader does not (it reads %v)", body, name, keys(fams))
		}
		got := finite(f.Values)
		if len(got) != len(vals) {
			t.Fatalf("%q: family %q: reader %v, expfmt %v", body, name, got, vals)
		}
		for i := range got {
			if got[i] != vals[i] && !(got[i] == 0 && vals[i] == 0) {
				t.Fatalf("%q: family %q: reader %v, expfmt %v", body, name, got, vals)
			}
		}
		if s := fams.Sum(name); (s == nil) != (len(vals) == 0) {
			t.Fatalf("%q: Sum(%q) = %v with expfmt values %v", body, name, s, vals)
		}
		if m := fams.Max(name); (m == nil) != (len(vals) == 0) {
			t.Fatalf("%q: Max(%q) = %v with expfmt values %v", body, name, m, vals)
		}
	}
	for name := range fams {
		if _, ok := want[name]; !ok {
			t.Fatalf("%q: the reader reads family %q, expfmt does not (it reads %v)", body, name, want)
		}
	}
	return true
}

func keys(f Families) []string {
	var out []string
	for k := range f {
		out = append(out, k)
	}
	return out
}

// The reader reads what expfmt reads, on the fixtures of real servers and
// on the corners of the format.
func TestParsePrometheusAgreesWithExpfmt(t *testing.T) {
	accepted := 0
	for _, name := range []string{"llama-server/metrics.txt", "vllm/metrics.txt"} {
		body := fixture(t, name)
		fams, err := ParsePrometheus(body)
		if !agreeWithExpfmt(t, body, fams, err) {
			t.Fatalf("expfmt refuses the fixture %s", name)
		}
	}
	for _, body := range promCases {
		fams, err := ParsePrometheus([]byte(body))
		if agreeWithExpfmt(t, []byte(body), fams, err) {
			accepted++
		}
	}
	if accepted < len(promCases)/2 {
		t.Fatalf("expfmt accepts only %d of %d cases: the comparison proves little", accepted, len(promCases))
	}
}

// What the callers need from a body expfmt would refuse whole: the good
// lines are read, a bad one is skipped, and a body with no sample at all
// (an HTML page) is an error.
func TestParsePrometheusSkipsBadLines(t *testing.T) {
	f, err := ParsePrometheus([]byte("vllm:num_requests_running 3\nthis is { not a sample\nvllm:num_requests_waiting 0x1p3\nvllm:num_requests_waiting 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v := f.Sum("vllm:num_requests_running"); v == nil || *v != 3 {
		t.Errorf("running = %v", v)
	}
	if v := f.Sum("vllm:num_requests_waiting"); v == nil || *v != 2 {
		t.Errorf("waiting = %v, want the one readable line's 2", v)
	}
	if _, err := ParsePrometheus([]byte("<html>\n<body>Not Found</body>\n</html>\n")); err == nil {
		t.Error("an HTML page parsed as metrics")
	}
	long := "a " + strings.Repeat("1", maxPromLine) + "\nb 2\n"
	if f, err := ParsePrometheus([]byte(long)); err != nil || f["a"] != nil || f.Sum("b") == nil {
		t.Errorf("an overlong line: %v, %v", f, err)
	}
	many := strings.Repeat("a 1\n", maxPromLines+1)
	if _, err := ParsePrometheus([]byte(many)); err == nil || !strings.Contains(err.Error(), "lines") {
		t.Errorf("%d lines: %v", maxPromLines+1, err)
	}
	// A summary's and a histogram's series are their family's, not
	// counters of their own; the family still counts as exported.
	f, err = ParsePrometheus([]byte("# TYPE vllm:lat histogram\nvllm:lat_bucket{le=\"+Inf\"} 2\nvllm:lat_sum 3\nvllm:lat_count 2\n"))
	if err != nil || !f.HasPrefix("vllm:") || f.Sum("vllm:lat") != nil || f.Sum("vllm:lat_count") != nil {
		t.Errorf("histogram: %v, %v", f, err)
	}
}
