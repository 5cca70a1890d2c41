# getopts: flags, arguments, clusters, errors handled silently, OPTIND.
parse() {
    OPTIND=1
    while getopts ":ab:c" opt "$@"; do
        case $opt in
            a) echo "flag a" ;;
            b) echo "b with [$OPTARG]" ;;
            c) echo "flag c" ;;
            :) echo "missing argument for -$OPTARG" ;;
            \?) echo "unknown -$OPTARG" ;;
        esac
    done
    shift $((OPTIND - 1))
    echo "rest: $*"
}
parse -a -b val file1 file2
parse -ac -bjoined x
parse -b 'with space' -- -a
parse -x -a
parse -a -b
parse plain -a
set -- -c -a
while getopts ac o; do echo "positional: $o"; done
echo "OPTIND=$OPTIND"
