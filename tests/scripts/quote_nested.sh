# Quotes nest inside command substitutions and parameter expansions.
x="outer"
echo "$(echo "inner $x" "$(echo "deeper 'q'")")"
echo "${x:+"alt $x"}"
echo "${unset_var:-"default with  spaces"}"
y="a b"
printf '[%s]\n' ${y:+"$y"} "${y:+$y}"
echo "$(printf '%s' "it's \"fine\"")"
echo 'single "double" $(no)' "double 'single' $(echo yes)"
z=$(echo "a   b")
echo "$z"
