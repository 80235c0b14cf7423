/*-------------------------------------------------------------------------
 *
 * slugify.c
 *		webflow.slugify(text): turn a name into a Webflow item slug.
 *
 * A slug is made of lowercase ASCII letters, digits and single hyphens,
 * with no hyphen at either end.  Latin letters with diacritics fold to
 * their base letters (é -> e, ß -> ss, æ -> ae, ø -> o, Ł -> l, þ -> th),
 * apostrophes vanish ("Hitchhiker's" -> "hitchhikers") and every other run
 * of characters (punctuation, spaces, non-Latin letters, emoji) becomes
 * one hyphen.
 *
 * The work is done on UTF-8: text in another server encoding is converted
 * first.  In a SQL_ASCII database, bytes that form valid UTF-8 are read as
 * UTF-8 and any other byte is a separator.  The folding tables below were
 * generated from the Unicode character names ("LATIN SMALL LETTER E WITH
 * ACUTE" -> e) with digraphs and a few letters listed by hand.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "slugify.h"

PG_FUNCTION_INFO_V1(webflow_slugify);

/* How a character takes part in a slug. */
#define FOLD_SEPARATOR	' '		/* ends a word: becomes a hyphen */
#define FOLD_VANISH		'.'		/* leaves no trace (apostrophes, accents) */
#define FOLD_DIGRAPH	'*'		/* more than one letter: see fold_digraphs */

/*
 * One character per code point: its base letter, or one of the FOLD_
 * markers above.
 */
static const char fold_latin[] =
	"aaaaaa*ceeeeiiiidnooooo ouuuuy**aaaaaa*ceeeeiiiidnooooo ouuuuy*y"
	"aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii**jjkkklllllll"
	"lllnnnnnnnnnoooooo**rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs"
	"bbbb  occdddddeeeffgg*iikkl mnnooo**pp   s ttttuuuvyyzzz  z     "
	"    *********aaiioouuuuuuuuuueaaaa**ggggkkoooozzj***gg*wnnaa**oo"
	"aaaaeeeeiiiioooorrrruuuusstt**hhnd**zzaaeeooooooooyylntj**acclts"
	"z..buveejjqqrryy";
#define FOLD_LATIN_FIRST 0x00C0

static const char fold_latin_additional[] =
	"aabbbbbbccddddddddddeeeeeeeeeeffgghhhhhhhhhhiiiikkkkkkllllllllmm"
	"mmmmnnnnnnnnoooooooopppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvv"
	"wwwwwwwwwwxxxxyyzzzzzzhtwyasss*daaaaaaaaaaaaaaaaaaaaaaaaeeeeeeee"
	"eeeeeeeeiiiioooooooooooooooooooooooouuuuuuuuuuuuuuyyyyyyyy**vvyy";
#define FOLD_LATIN_ADDITIONAL_FIRST 0x1E00

/* Code points that fold to more than one letter. */
typedef struct FoldDigraph
{
	pg_wchar	code;
	const char *letters;
} FoldDigraph;

static const FoldDigraph fold_digraphs[] = {
	{0x00C6, "ae"},	/* Æ */
	{0x00DE, "th"},	/* Þ */
	{0x00DF, "ss"},	/* ß */
	{0x00E6, "ae"},	/* æ */
	{0x00FE, "th"},	/* þ */
	{0x0132, "ij"},	/* Ĳ */
	{0x0133, "ij"},	/* ĳ */
	{0x0152, "oe"},	/* Œ */
	{0x0153, "oe"},	/* œ */
	{0x0195, "hv"},	/* ƕ */
	{0x01A2, "oi"},	/* Ƣ */
	{0x01A3, "oi"},	/* ƣ */
	{0x01C4, "dz"},	/* Ǆ */
	{0x01C5, "dz"},	/* ǅ */
	{0x01C6, "dz"},	/* ǆ */
	{0x01C7, "lj"},	/* Ǉ */
	{0x01C8, "lj"},	/* ǈ */
	{0x01C9, "lj"},	/* ǉ */
	{0x01CA, "nj"},	/* Ǌ */
	{0x01CB, "nj"},	/* ǋ */
	{0x01CC, "nj"},	/* ǌ */
	{0x01E2, "ae"},	/* Ǣ */
	{0x01E3, "ae"},	/* ǣ */
	{0x01F1, "dz"},	/* Ǳ */
	{0x01F2, "dz"},	/* ǲ */
	{0x01F3, "dz"},	/* ǳ */
	{0x01F6, "hv"},	/* Ƕ */
	{0x01FC, "ae"},	/* Ǽ */
	{0x01FD, "ae"},	/* ǽ */
	{0x021C, "gh"},	/* Ȝ */
	{0x021D, "gh"},	/* ȝ */
	{0x0222, "ou"},	/* Ȣ */
	{0x0223, "ou"},	/* ȣ */
	{0x0238, "db"},	/* ȸ */
	{0x0239, "qp"},	/* ȹ */
	{0x1E9E, "ss"},	/* ẞ */
	{0x1EFA, "ll"},	/* Ỻ */
	{0x1EFB, "ll"},	/* ỻ */
	{0xFB00, "ff"},	/* ﬀ */
	{0xFB01, "fi"},	/* ﬁ */
	{0xFB02, "fl"},	/* ﬂ */
	{0xFB03, "ffi"},	/* ﬃ */
	{0xFB04, "ffl"},	/* ﬄ */
	{0xFB05, "st"},	/* ﬅ */
	{0xFB06, "st"},	/* ﬆ */
};

static const char *fold_code_point(pg_wchar c, char *single);
static int	decode_utf8(const unsigned char *s, int len, pg_wchar *c);
static int	slugify_utf8(const unsigned char *s, int len, char *dst);
static const char *to_utf8(const char *s, int *len);

/*
 * fold_code_point returns the letters a non-ASCII code point folds to, or
 * a one-character string holding FOLD_SEPARATOR or FOLD_VANISH.  single is
 * a two-byte buffer for the one-letter case.
 */
static const char *
fold_code_point(pg_wchar c, char *single)
{
	char		f = FOLD_SEPARATOR;

	if (c >= FOLD_LATIN_FIRST && c < FOLD_LATIN_FIRST + sizeof(fold_latin) - 1)
		f = fold_latin[c - FOLD_LATIN_FIRST];
	else if (c >= FOLD_LATIN_ADDITIONAL_FIRST &&
			 c < FOLD_LATIN_ADDITIONAL_FIRST + sizeof(fold_latin_additional) - 1)
		f = fold_latin_additional[c - FOLD_LATIN_ADDITIONAL_FIRST];
	else if (c >= 0xFF10 && c <= 0xFF19)	/* fullwidth digits */
		f = (char) ('0' + (c - 0xFF10));
	else if (c >= 0xFF21 && c <= 0xFF3A)	/* fullwidth capitals */
		f = (char) ('a' + (c - 0xFF21));
	else if (c >= 0xFF41 && c <= 0xFF5A)	/* fullwidth small letters */
		f = (char) ('a' + (c - 0xFF41));
	else if (c >= 0xFB00 && c <= 0xFB06)	/* ligatures ﬀ to ﬆ */
		f = FOLD_DIGRAPH;
	else if ((c >= 0x0300 && c <= 0x036F) ||	/* combining diacritics */
			 c == 0x00AD ||		/* soft hyphen */
			 c == 0x02BC ||		/* modifier letter apostrophe */
			 c == 0x2018 || c == 0x2019 ||	/* single quotation marks */
			 c == 0x200B || c == 0x2060 || c == 0xFEFF)	/* zero widths */
		f = FOLD_VANISH;

	if (f == FOLD_DIGRAPH)
	{
		int			lo = 0;
		int			hi = lengthof(fold_digraphs) - 1;

		while (lo <= hi)
		{
			int			mid = (lo + hi) / 2;

			if (fold_digraphs[mid].code == c)
				return fold_digraphs[mid].letters;
			if (fold_digraphs[mid].code < c)
				lo = mid + 1;
			else
				hi = mid - 1;
		}
		f = FOLD_SEPARATOR;
	}
	single[0] = f;
	single[1] = '\0';
	return single;
}

/*
 * decode_utf8 reads one multibyte UTF-8 character at s (whose first byte
 * is >= 0x80) and returns its length, or 0 when the bytes are not valid
 * UTF-8.
 */
static int
decode_utf8(const unsigned char *s, int len, pg_wchar *c)
{
	int			n = pg_utf_mblen(s);

	if (n < 2 || n > 4 || n > len || !pg_utf8_islegal(s, n))
		return 0;
	*c = utf8_to_unicode(s);
	return n;
}

/*
 * slugify_utf8 writes the slug of UTF-8 text s into dst and returns its
 * length.  The slug is never longer than the text, so dst needs len bytes.
 */
static int
slugify_utf8(const unsigned char *s, int len, char *dst)
{
	int			out = 0;
	bool		pending_hyphen = false;
	int			i = 0;

	while (i < len)
	{
		unsigned char b = s[i];
		const char *letters;
		char		single[2];

		if (b < 0x80)
		{
			i++;
			if ((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9'))
				single[0] = (char) b;
			else if (b >= 'A' && b <= 'Z')
				single[0] = (char) (b + ('a' - 'A'));
			else
				single[0] = (b == '\'') ? FOLD_VANISH : FOLD_SEPARATOR;
			single[1] = '\0';
			letters = single;
		}
		else
		{
			pg_wchar	c;
			int			n = decode_utf8(s + i, len - i, &c);

			if (n == 0)
			{
				/* not UTF-8 (possible in SQL_ASCII): a separator */
				i++;
				pending_hyphen = true;
				continue;
			}
			i += n;
			letters = fold_code_point(c, single);
		}

		if (letters[0] == FOLD_SEPARATOR)
			pending_hyphen = true;
		else if (letters[0] != FOLD_VANISH)
		{
			if (pending_hyphen && out > 0)
				dst[out++] = '-';
			pending_hyphen = false;
			while (*letters)
				dst[out++] = *letters++;
		}
	}
	return out;
}

/*
 * to_utf8 returns text in the server encoding as UTF-8, converting it when
 * the server encoding is neither UTF-8 nor SQL_ASCII; *len is updated.
 */
static const char *
to_utf8(const char *s, int *len)
{
	int			encoding = GetDatabaseEncoding();
	char	   *converted;

	if (encoding == PG_UTF8 || encoding == PG_SQL_ASCII)
		return s;
	converted = pg_server_to_any(s, *len, PG_UTF8);
	if (converted != s)
		*len = strlen(converted);
	return converted;
}

/*
 * webflow_slugify_cstring returns the slug of text s (len bytes in the
 * server encoding) as a palloc'd string; *slug_len receives its length.
 * The slug is empty when the text has no letter or digit.
 */
char *
webflow_slugify_cstring(const char *s, int len, int *slug_len)
{
	const char *utf8 = to_utf8(s, &len);
	char	   *slug = palloc(len + 1);
	int			n = slugify_utf8((const unsigned char *) utf8, len, slug);

	slug[n] = '\0';
	*slug_len = n;
	return slug;
}

/* webflow_slugify is webflow.slugify(text): the slug of a name. */
Datum
webflow_slugify(PG_FUNCTION_ARGS)
{
	text	   *name = PG_GETARG_TEXT_PP(0);
	int			len = VARSIZE_ANY_EXHDR(name);
	const char *utf8 = to_utf8(VARDATA_ANY(name), &len);
	text	   *result = (text *) palloc(VARHDRSZ + len);
	int			n = slugify_utf8((const unsigned char *) utf8, len,
								 VARDATA(result));

	SET_VARSIZE(result, VARHDRSZ + n);
	PG_RETURN_TEXT_P(result);
}
