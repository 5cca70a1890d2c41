# Here-document tags with ${ } or $( ) in them are the tag as written, and
# here-documents inside $( ) and ${x:-$( )} still work.
x=X
cat <<${a}
body ${x} $(echo sub)
${a}
cat <<$(a)
two
$(a)
y=$(cat <<EOF
in sub ${x}
EOF
)
echo "$y"
cat <<-"E${q}"
	quoted ${x}
	E${q}
echo ${x:-$(cat <<EOF
default
EOF
)}
echo end
