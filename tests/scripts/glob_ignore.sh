# GLOBIGNORE: matching paths leave pathname expansion (a * does not cross
# a /), dotglob comes on, and a pattern left with nothing stays as written.
d=$(mktemp -d)
cd "$d"
touch one.md one.txt .hidden
mkdir foo
touch foo/two.md foo/two.txt
GLOBIGNORE='*.txt'
echo *
echo *.* foo/*.*
GLOBIGNORE='*.md:foo/*'
echo * foo/*
GLOBIGNORE='*'
echo *
unset GLOBIGNORE
echo *
cd /
rm -r "$d"
