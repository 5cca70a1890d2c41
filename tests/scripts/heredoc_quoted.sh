# Quoted delimiters keep the here-document literal.
name=world
cat <<'END'
no $name, no $(echo cmd), no `echo bq`, no $((1 + 1))
back\slash \$ kept
END
cat <<"END"
double-quoted delimiter: $name
END
cat <<E\ND
backslash in delimiter: $name
END
cat <<'END'

blank lines kept

END
echo "after"
