# Command substitution: $( ), backquotes, nesting, trailing newlines, status.
echo "$(echo one)"
echo `echo two`
echo "$(echo "$(echo "$(echo three)")")"
echo `echo \`echo four\``
x=$(printf 'trailing\n\n\n')
echo "[$x]"
y=$(printf '\n\nleading')
echo "[$y]"
z=$(false)
echo "status $?"
w=$(exit 5)
echo "status $?"
echo "$(echo a; echo b)" | wc -l
echo $(echo '  spaced   words  ')
n=$(echo 1 2 3 | wc -w)
echo "words $((n))"
echo "$(
    # a comment inside
    echo multi
    echo line
)"
echo "$(case x in (x) echo "case in subst";; esac)"
v=outer; r=$(v=inner; echo $v); echo "$v $r"
echo "$(cat <<EOF2
heredoc in subst
EOF2
)"
