package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestDocumentedCommandLinesParse runs every `flexus ...` command line quoted in
// README.md and docs/*.md with --help appended through run(), so a renamed or
// removed flag or command fails here instead of in a reader's terminal. It
// checks flags and commands only: --help stops before a command runs, so flag
// values and files are not checked.
func TestDocumentedCommandLinesParse(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	var lines []docCommand
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, documentedCommands(filepath.Base(f), string(text))...)
	}
	// The docs quote far more than this; fewer means the extraction broke.
	if len(lines) < 20 {
		t.Fatalf("found only %d flexus command lines in the docs: %v", len(lines), lines)
	}
	for _, c := range lines {
		t.Run(c.where, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append(append([]string(nil), c.args...), "--help")
			if code := run(args, &stdout, &stderr, func(string) string { return "" }); code != 0 {
				t.Errorf("%s: `flexus %s` is not a valid command line (exit %d): %s",
					c.where, strings.Join(c.args, " "), code, strings.TrimSpace(stderr.String()))
			}
		})
	}
}

func TestDocumentedCommandsExtraction(t *testing.T) {
	doc := strings.Join([]string{
		"Run `flexus check-config flexus.yml` first, then `flexus exporter`.",
		"```sh",
		"for f in ../shared/traces/*.csv; do /tmp/flexus backtest --trace \"$f\" --format json; done",
		"flexus forecast-eval --trace FILE [--horizon 15m] \\",
		"  [--format text|json] --query 'sum(rate(x[5m]))'  # a comment",
		"/tmp/flexus simcloud --web.listen-address=127.0.0.1:29849 &",
		"```",
		"```",
		"flexus demo  4:51 / 5:00  [####]  phase 3/3: calm again (demand ×1.0)",
		"```",
		"The module github.com/flexus-autoscaler/flexus and flexus_build_info are not commands.",
	}, "\n")
	var got []string
	for _, c := range documentedCommands("x.md", doc) {
		got = append(got, c.where+": "+strings.Join(c.args, " "))
	}
	want := []string{
		"x.md:1: check-config flexus.yml",
		"x.md:1: exporter",
		"x.md:3: backtest --trace $f --format json",
		"x.md:4: forecast-eval --trace FILE --horizon 15m --format text|json --query sum(rate(x[5m]))",
		"x.md:6: simcloud --web.listen-address=127.0.0.1:29849",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("extracted\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

type docCommand struct {
	where string // file:line
	args  []string
}

// commandStart finds `flexus SUBCOMMAND` as a program name, also as a path
// such as /tmp/flexus or ./flexus.
var commandStart = regexp.MustCompile(`(?:^|[\s;(])(?:[./\w-]*/)?flexus\s+[a-z]`)

// documentedCommands returns the flexus command lines in a markdown text: in
// fenced code blocks (joining lines continued with a backslash) and in inline
// code spans elsewhere. Lines with non-ASCII characters are program output or
// diagrams (the demo's progress frame, the arrows of the loop), not commands.
func documentedCommands(file, text string) []docCommand {
	var out []docCommand
	add := func(line int, s string) {
		if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return r > 127 }) >= 0 {
			return
		}
		for {
			loc := commandStart.FindStringIndex(s)
			if loc == nil {
				return
			}
			rest := s[loc[1]-1:]
			args, tail := shellWords(rest)
			out = append(out, docCommand{where: fmt.Sprintf("%s:%d", file, line), args: args})
			s = tail
		}
	}
	inFence, pending, pendingLine := false, "", 0
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			if pending == "" {
				pendingLine = n
			}
			if strings.HasSuffix(line, "\\") {
				pending += strings.TrimSuffix(line, "\\") + " "
				continue
			}
			add(pendingLine, pending+line)
			pending = ""
			continue
		}
		for _, m := range codeSpan.FindAllStringSubmatch(line, -1) {
			add(n, m[1])
		}
	}
	return out
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

// shellWords splits a command line after the program name into its arguments,
// up to the first shell operator or comment, and returns what follows the
// operator. Quotes group and are dropped; optional parts in [brackets] count as
// given.
func shellWords(s string) (args []string, tail string) {
	var (
		word          strings.Builder
		inWord        bool
		quote         rune
		quoted        bool
		words         []string
		wasQuoted     []bool
		operatorAfter = -1 // byte offset just past the operator that ended the command
	)
	flush := func() {
		if inWord {
			words, wasQuoted = append(words, word.String()), append(wasQuoted, quoted)
		}
		word.Reset()
		inWord, quoted = false, false
	}
	for i, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '"' || r == '\'':
			quote, quoted, inWord = r, true, true
		case r == ';':
			flush()
			operatorAfter = i + 1
		case r == ' ' || r == '\t':
			flush()
		default:
			word.WriteRune(r)
			inWord = true
		}
		if operatorAfter >= 0 {
			break
		}
	}
	if operatorAfter < 0 {
		flush()
	}
	for i, w := range words {
		if !wasQuoted[i] {
			switch {
			case w == "&" || w == "&&" || w == "|" || w == "||" || w == ")":
				return args, strings.Join(words[i+1:], " ")
			case strings.HasPrefix(w, "#") || strings.HasPrefix(w, ">") || strings.HasPrefix(w, "2>") || strings.HasPrefix(w, "<"):
				return args, ""
			}
			w = strings.TrimRight(strings.TrimLeft(w, "["), "]")
			if w == "" {
				continue
			}
		}
		args = append(args, w)
	}
	if operatorAfter >= 0 {
		return args, s[operatorAfter:]
	}
	return args, ""
}
