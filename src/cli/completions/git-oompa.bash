# bash completion for git oompa (printed by `git oompa completions bash`).
#
# Save it as ~/.local/share/bash-completion/completions/git-oompa: git's completion loads it
# the first time it meets `git oompa`. Or source it from ~/.bashrc (after git's completion).
# The candidates come from git-oompa itself on each TAB, so the script outlives upgrades.

# Called by git's completion for `git oompa …` (its `words`, `cword`, `cur` are set).
_git_oompa ()
{
	local start=${__git_cmd_idx:-} i
	if [ -z "$start" ]; then
		for ((i = 1; i < cword; i++)); do
			if [ "${words[i]}" = oompa ]; then start=$i; break; fi
		done
	fi
	[ -n "$start" ] || return
	__git_oompa_reply "${words[@]:start+1:cword-start-1}" "$cur"
}

# Called by bash for `git-oompa …` typed directly.
__git_oompa_direct ()
{
	local cur words cword
	if declare -F _get_comp_words_by_ref >/dev/null; then
		_get_comp_words_by_ref -n =: cur words cword
	else
		words=("${COMP_WORDS[@]}") cword=$COMP_CWORD cur=${COMP_WORDS[COMP_CWORD]}
	fi
	__git_oompa_reply "${words[@]:1:cword-1}" "$cur"
}

# Asks git-oompa for the candidates of the last argument given the ones before it, and
# fills COMPREPLY the way git's helpers do (a space after a finished word; `=` and `:`
# prefixes trimmed where bash splits words at them).
__git_oompa_reply ()
{
	local cur_=${!#} c trim= IFS=$'\n'
	local -a found
	if type __git >/dev/null 2>&1; then
		found=($(OOMPA_COMPLETE=bash __git oompa -- git-oompa "$@"))
	else
		found=($(OOMPA_COMPLETE=bash git-oompa -- git-oompa "$@" 2>/dev/null))
	fi
	case "$cur_" in
	*[=:]*)
		trim=${cur_%"${cur_##*[=:]}"}
		case "$COMP_WORDBREAKS" in
		*"${trim: -1}"*) ;;
		*) trim= ;;
		esac
		;;
	esac
	COMPREPLY=()
	for c in "${found[@]}"; do
		c=${c#"$trim"}
		case "$c" in
		*/|*=) COMPREPLY+=("$c") ;;
		*) COMPREPLY+=("$c ") ;;
		esac
	done
}

complete -o nospace -o bashdefault -F __git_oompa_direct git-oompa
