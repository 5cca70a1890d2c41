# while read from a here-document and from a file, with IFS and -r.
while read -r key value; do
    echo "key=$key value=$value"
done <<EOF2
name nsh
lang  posix shell
empty
EOF2
while IFS=: read -r user _ uid rest; do
    echo "$user has $uid ($rest)"
done <<'EOF2'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin
EOF2
while IFS= read -r line; do echo "[$line]"; done <<'EOF2'
  keep leading
trailing  
EOF2
n=0
while read -r line; do n=$((n + 1)); done <<EOF2
1
2
3
EOF2
echo "lines $n (no subshell for a redirected loop)"
