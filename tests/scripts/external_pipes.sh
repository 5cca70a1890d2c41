# External commands (cluster processes under nsh) in pipelines.
seq 10 | sort -rn | head -n 3
printf 'pear\napple\nfig\napple\n' | sort | uniq -c | sed 's/^ *//'
seq 1 5 | awk '{ s += $1 } END { print "sum", s }'
printf 'a,b,c\nd,e,f\n' | cut -d, -f2
echo 'Hello World' | tr 'a-z' 'A-Z' | tr -d 'O'
seq 100 | grep -c 7
seq 20 | grep '^1' | wc -l
printf 'one two\nthree\n' | wc -w
printf 'x\ny\n' | cat -n | sed 's/^ *//; s/\t/:/'
seq 3 | sed -n '2p'
echo "  trim  me  " | awk '{$1=$1; print}'
printf 'k2 b\nk1 a\nk3 c\n' | sort -k1,1 | cut -d' ' -f2 | tr -d '\n'; echo
seq 5 | tail -n 2 | paste -sd+ | sed 's/$/=/'
echo "$(seq 3 | wc -l) lines"
yes | head -n 3
seq 100000 | tail -n 1
