# <<- strips leading tabs from the body and the delimiter line.
if true; then
	cat <<-END
		indented with tabs
	  tab then spaces
	x=$((1 + 1))
	END
	cat <<-'END' | sed "s/^/> /"
		quoted $x
		END
fi
x=7
cat <<-EOF
	value $x
EOF
