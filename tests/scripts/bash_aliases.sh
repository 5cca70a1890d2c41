# Aliases in a script: expanded only after `shopt -s expand_aliases`, when
# a line is read (not on the line that defines them), in command position,
# recursively but never into themselves, and the word after an alias whose
# text ends in a blank.
alias greet='echo hello'
greet 2>/dev/null || echo "not expanded before shopt: $?"
shopt -s expand_aliases
greet world
alias now='echo now'; now 2>/dev/null || echo "same line: not yet"
now later
alias echo='echo [echo]'
echo recursion stops
unalias echo
alias e_='echo ' one='ONE ' two='TWO ' three='THREE'
e_ one two three two
alias loop='for i in 1 2 3; do echo $i;'
loop done
alias LEFT='{'
LEFT echo in braces; }
if greet in if; then greet in then; fi
x=1 greet after an assignment
greet into a file > "${TMPDIR:-/tmp}/nsh-alias-$$" && cat "${TMPDIR:-/tmp}/nsh-alias-$$"
rm -f "${TMPDIR:-/tmp}/nsh-alias-$$"
case greet in greet) greet in case;; esac
f() { greet in a function; }
unalias greet
f
greet 2>/dev/null || echo "unaliased: $?"
eval "alias inside='echo inside eval'
inside"
inside again
echo "$(inside a substitution)"
'inside' 2>/dev/null || echo "quoted: $?"
alias
unalias 2>/dev/null || echo "unalias alone: $?"
unalias nosuch 2>/dev/null || echo "unalias nosuch: $?"
alias -p | head -2
type inside
continued=$(e_ one \
  two one)
echo "$continued"
