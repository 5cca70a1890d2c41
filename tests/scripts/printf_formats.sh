# printf: conversions, widths, precision, flags, escapes and format reuse.
printf '%s\n' hello
printf '[%5s][%-5s][%.2s]\n' ab ab abcdef
printf '[%d][%5d][%-5d][%05d][%+d]\n' 42 42 42 42 42
printf '[%x][%X][%o][%#x][%#o]\n' 255 255 8 255 8
printf '[%c][%c]\n' abc x
printf '%s=%d\n' a 1 b 2 c 3
printf '%s %s\n' only
printf 'percent %% done\n'
printf 'tab\there\nnewline\\n literal backslash-n\n'
printf '%b\n' 'b: tab\there' 'b: \101\102'
printf '\101\102\103\n'
printf '%d %d\n' "'A" 0x10
printf '[%s]\n'
printf '%3d|%-3d|\n' 1 2 30 40
printf '%.3d %.0s|\n' 7 gone
printf '%i %u\n' -5 5
x=$(printf '%s-' a b c)
echo "$x"
printf -- '--dash\n'
printf '%s\n' "multiple words in one arg"
