# Pathname expansion in a temporary directory the script creates.
dir=$(mktemp -d)
cd "$dir" || exit 1
touch a.txt b.txt c.log .hidden 'sp ace.txt' ab abc
mkdir sub
touch sub/x.txt sub/y.txt
echo *.txt
echo ?b ?b?
echo [ab]*
echo [!ab]*
echo sub/*
echo */*.txt
echo *.none
echo "*.txt"
echo '*'.log
set -- *.txt
echo "$# files, first [$1]"
for f in *; do printf '[%s]' "$f"; done; echo
echo .*[!.]
p='*.log'
echo $p "$p"
set -f
echo *.txt
set +f
echo a\*.txt
cd /
rm -r "$dir"
test -e "$dir" || echo "cleaned up"
