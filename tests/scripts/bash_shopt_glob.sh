# bash extension: shopt options for pathname expansion.
dir=$(mktemp -d)
cd "$dir"
mkdir -p a/b/c d
touch x.txt X.TXT a/y.txt a/b/z.txt a/b/c/w.txt .hidden a/.h2
echo "plain: " *
shopt -s dotglob
echo "dotglob: " *
shopt -u dotglob
echo "no match stays: " *.none
shopt -s nullglob
echo "nullglob: [" *.none "]"
set -- *.none; echo "nullglob count $#"
shopt -u nullglob
shopt -s nocaseglob
echo "nocaseglob: " x*
shopt -u nocaseglob
echo "case kept: " x*
shopt -s globstar
echo "globstar: " **
echo "dirs: " **/
echo "txt: " **/*.txt
echo "under a: " a/**/z.txt
shopt -u globstar
echo "without globstar: " **/*.txt
shopt -s extglob
echo "extglob: " @(x|d)* +(a|d)
case abcabc in +(abc)) echo "case +(abc)";; esac
v=aaab; echo "trim: ${v##+(a)}"
shopt -u extglob
shopt extglob nullglob; echo "query status $?"
shopt -q globstar || echo "globstar off"
shopt -p dotglob failglob
shopt -s failglob
echo *.none
echo "failglob status $?"
for f in *.none; do echo never; done
shopt -u failglob
shopt -s checkwinsize && echo "interactive-only option accepted"
shopt -s no_such_option 2>/dev/null; echo "unknown option: $?"
cd /
rm -r "$dir"
