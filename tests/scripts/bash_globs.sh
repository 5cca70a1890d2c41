# bash patterns: extglob groups (!, @, *, +, ?), nested and side by side,
# in pathname expansion, case, [[ ]] and parameter expansion; bracket
# expression edge cases; GLOBIGNORE; globskipdots.
shopt -s extglob
d=$(mktemp -d)
cd "$d"
touch foo.c foo.h foo.cc bar.c bar.py baz.py .hidden.py .rc '[' ']' ./- a b
mkdir 2 eg
touch 2/aa 2/ab 2/ac 2/ba 2/bb 2/bc 2/ca 2/cb 2/cc
touch eg/ab eg/ac eg/ad eg/az eg/bc eg/bd eg/_ eg/_One eg/_OneOne eg/_OneTwo

echo '--- pathname expansion'
echo !(*.h|*.cc|?)
echo *.!(c)
echo !(foo).c
echo @(foo|bar).@(c|h)
echo +([a-z]).py
echo ?(foo).c
echo eg/_*(One|Two)
echo eg/_+(One)
echo eg/_?(One)
echo 2/!(b)@(b|c)
echo 2/!(b)?@(b|c)
echo 2/!(b)a@(b|c)
echo 2/@(a|c)!(a)
echo eg/a@(!(c|d))
echo eg/a!(@(ab|b*))
echo eg/!(a*|_*)
echo eg/+(a|b)@(c|d)
echo !(x)
echo .!(rc)
echo @(.rc|*.c)
echo !(*)
echo none!(x)

echo '--- case'
for w in foo.c foo.cc .rc x.py abab '' 'a b'; do
    case $w in
        !(*.*)) echo "[$w] no dot" ;;
        *.@(c|h)) echo "[$w] c source" ;;
        +(ab)) echo "[$w] ab+" ;;
        !(*.py|*.cc)) echo "[$w] not py or cc" ;;
        *) echo "[$w] other" ;;
    esac
done

echo '--- [[ ]]'
t() { if [[ $1 == $2 ]]; then echo "yes $1 $2"; else echo "no  $1 $2"; fi; }
t a '!(a)'
t b '!(a)'
t '' '!(a)'
t aa '!(a)'
t ab '!(a)*'
t abc '!(*c)'
t abd '!(*c)'
t ab '@(a)@(b)'
t a '?(a)!(a)'
t xx '*(x)!(x)'
t abab '+(a|ab)b'
t a '!(!(a))'
t b '!(!(a))'
t aabab '*(+(a)b)'
t aaba '*(+(a)b)'
t foo.c '!(foo).c'
t bar.c '!(foo).c'
t '' '@(|x)'
t '' '!()'
t z '!()'
t '@(ab' '@(ab'
t 'x*(ab' 'x*(ab'
t 'xyz(ab' 'x*(ab'
t ')' '@(\)|a)'
t '|' '@([|])'

echo '--- parameter expansion'
x=abcabc
echo "${x#!(b)}|${x##!(b)}|${x%!(c)}|${x%%!(c)}"
echo "${x/!(a)/Z}|${x//@(b|c)/Z}|${x//+(b|c)/-}"
echo "${x##*(a|b)}|${x%%?(b)c}|${x#@(ab|abc)}|${x##@(ab|abc)}"
y=foo.tar.gz
echo "${y%.!(tar)}|${y%%.!(tar)}|${y#!(f)}|${y##*.}"
z=aXbXc
echo "${z//!(X)/_}|${z/X!(b)/=}|${z//[!X]/.}"
# Empty matches: replaced, and // goes on a character further.
e=
echo "[${e/?(b)/X}] [${e/%?(b)/X}] [${e/#?(b)/X}] [${e/*/X}] [${e/#*/X}] [${e/#/X}]"
w=ab
echo "[${w/?(b)/X}] [${w//?(b)/X}] [${w//*(x)/-}] [${w//@(b|)/<&>}] [${w/#?(x)/X}]"
echo "[${w//[[:alpha:]]*(x)/-}] [${w/%*(x)/X}] [${w//x*/X}]"

echo '--- brackets'
echo [[] []] [\[] [\]] [!ab]
echo [^]a-z] [!]-]
t '[' '[[z]'
t ']' '[]z]'
t a '[^]z]'
t ']' '[^]z]'
t a '[!]]'
t '[]' '[]'
t '[!]' '[!]'
t '^' '[]-a]'
t '-' '[a-]'
t b '[a\-z]'
t m '[z-a]'
t b '[z-ab]'
t x '[[:foo:]x]'
t 7 '[[:alpha:][:digit:]]'
t _x '[![:alnum:]]*'
t a '[[=a=]b]'
t b '[[.a.]-c]'
t '[a' '[a'
t '*' '[*]'
t a '[*]'

echo '--- GLOBIGNORE'
GLOBIGNORE='*.py:[[:punct:]]'
echo *
GLOBIGNORE='[![:alpha:]]*'
echo *
GLOBIGNORE='@(foo|bar).*:eg'
echo *
GLOBIGNORE='2/[ab]?:2/c[!a]'
echo 2/*
GLOBIGNORE='.:..'
shopt -u globskipdots
echo .*
GLOBIGNORE=
echo .*
shopt -s globskipdots
echo .*
shopt dotglob
unset GLOBIGNORE
shopt dotglob
echo .*

echo '--- globskipdots'
shopt -u globskipdots
echo .* .?
echo @(.|..|.rc)
shopt -s dotglob
echo * | tr ' ' '\n' | grep -c '^\.\.*$'
shopt -u dotglob
shopt -s globskipdots
echo .* .?
shopt -p globskipdots

cd /
rm -r "$d"
