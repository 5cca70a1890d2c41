# read: splitting into names, the last name takes the rest, -r, IFS, status.
read a b c <<EOF2
one two three four
EOF2
echo "[$a] [$b] [$c]"
read a b <<EOF2
only
EOF2
echo "[$a] [$b]"
read line <<'EOF2'
  padded  \  line  
EOF2
echo "[$line]"
IFS=, read -r x y <<EOF2
1,2,3
EOF2
echo "[$x] [$y]"
read -r nothing < /dev/null
echo "eof status $? [$nothing]"
read <<EOF2
into reply
EOF2
echo "REPLY=[$REPLY]"
echo "val" | { read v; echo "piped [$v]"; }
