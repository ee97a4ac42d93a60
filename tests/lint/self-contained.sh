#!/bin/bash
# The repository is self-contained for its users: no source, script, build
# file or test reads ../shared or a path of the development machine (/work/).
# Documentation (*.md, docs/) may name where data came from; this file names
# the patterns it looks for. One TAP line per pattern.
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
if git rev-parse --git-dir >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files)
else
	mapfile -t files < <(find . -path ./build -prune -o -path ./.git -prune -o -type f -print | sed 's|^\./||')
fi
checked=()
for f in "${files[@]}"; do
	case $f in
	*.md | docs/* | tests/lint/self-contained.sh | tests/data/*) ;;
	*) [ -f "$f" ] && checked+=("$f") ;;
	esac
done
n=0
failed=0
for pattern in '\.\./shared' '/work/'; do
	n=$((n + 1))
	hits=$(grep -InE "$pattern" -- "${checked[@]}" 2>/dev/null)
	if [ -z "$hits" ] && [ ${#checked[@]} -gt 100 ]; then
		echo "ok $n - no file outside the documentation names '$pattern' (${#checked[@]} files)"
	else
		echo "not ok $n - files name '$pattern' (or too few files were read: ${#checked[@]})"
		echo "$hits" | head -20 | sed 's/^/# /'
		failed=1
	fi
done
echo "1..$n"
exit $failed
