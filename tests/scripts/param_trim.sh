# ${#x}, ${x%p}, ${x%%p}, ${x#p}, ${x##p}.
path=/usr/local/lib/file.tar.gz
echo "${#path}"
echo "${path%.*}"
echo "${path%%.*}"
echo "${path#*/}"
echo "${path##*/}"
echo "${path%/*}"
echo "${path#/usr}"
echo "${path%nomatch}"
e=
echo "${#e} ${#nosuch}"
x=aaa
echo "${x#a} ${x##a*} [${x%%a*}] ${x%a}"
pat='*.'
echo "${path##$pat}" "${path##"$pat"}"
s='a*b*c'
echo "${s#*\*}" "${s%'*'*}"
echo "${x#[ab]}" "${path##*[/.]}"
set -- one two three
echo "$#" "${#1}"
