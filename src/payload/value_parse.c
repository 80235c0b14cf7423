/*-------------------------------------------------------------------------
 *
 * value_parse.c
 *		Recognising the value formats Webflow fields take, in the text and
 *		jsonb values of a row: ISO 8601 dates and times (rewritten as UTC
 *		with milliseconds and "Z"), numbers, booleans, CSS colors, Webflow
 *		object ids.
 *
 * Nothing here raises an error for a bad value: the functions say whether
 * a value fits, and field_coerce.c reports it with the column and field.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "value_parse.h"

/* CSS named colors, which Webflow accepts as Color values. */
static const char *const named_colors =
" transparent currentcolor aliceblue antiquewhite aqua aquamarine azure beige"
" bisque black blanchedalmond blue blueviolet brown burlywood cadetblue"
" chartreuse chocolate coral cornflowerblue cornsilk crimson cyan darkblue"
" darkcyan darkgoldenrod darkgray darkgreen darkgrey darkkhaki darkmagenta"
" darkolivegreen darkorange darkorchid darkred darksalmon darkseagreen"
" darkslateblue darkslategray darkslategrey darkturquoise darkviolet deeppink"
" deepskyblue dimgray dimgrey dodgerblue firebrick floralwhite forestgreen"
" fuchsia gainsboro ghostwhite gold goldenrod gray green greenyellow grey"
" honeydew hotpink indianred indigo ivory khaki lavender lavenderblush"
" lawngreen lemonchiffon lightblue lightcoral lightcyan lightgoldenrodyellow"
" lightgray lightgreen lightgrey lightpink lightsalmon lightseagreen"
" lightskyblue lightslategray lightslategrey lightsteelblue lightyellow lime"
" limegreen linen magenta maroon mediumaquamarine mediumblue mediumorchid"
" mediumpurple mediumseagreen mediumslateblue mediumspringgreen"
" mediumturquoise mediumvioletred midnightblue mintcream mistyrose moccasin"
" navajowhite navy oldlace olive olivedrab orange orangered orchid"
" palegoldenrod palegreen paleturquoise palevioletred papayawhip peachpuff"
" peru pink plum powderblue purple rebeccapurple red rosybrown royalblue"
" saddlebrown salmon sandybrown seagreen seashell sienna silver skyblue"
" slateblue slategray slategrey snow springgreen steelblue tan teal thistle"
" tomato turquoise violet wheat white whitesmoke yellow yellowgreen ";

static bool read_digits(const char *s, int n, int *value);
static bool numeric_syntax_ok(const char *s, int len);

/* read_digits reads exactly n decimal digits at s. */
static bool
read_digits(const char *s, int n, int *value)
{
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*value = v;
	return true;
}

/*
 * webflow_iso_utc recognises a date or timestamp and writes it to out (25
 * bytes) as YYYY-MM-DDTHH:MI:SS.mmmZ in UTC; a date is midnight UTC and a
 * time without offset is taken as UTC.  Fractions are truncated to
 * milliseconds.  strict accepts only what to_jsonb writes for date,
 * timestamp and timestamptz (2022-11-18, 2022-11-18T00:00:00[.ffffff] and
 * the same with +HH:MM or +HH:MM:SS); otherwise ISO 8601 text is accepted
 * more freely: a space for T, no seconds, any fraction, Z, +HH, +HHMM.
 */
bool
webflow_iso_utc(const char *s, int len, bool strict, char *out)
{
	int			year, mon, mday;
	int			hour = 0, min = 0, sec = 0, msec = 0;
	int			tz = 0;			/* seconds east of UTC */
	int			pos = 10;
	int64		total;
	int			julian;

	if (len < 10 || !read_digits(s, 4, &year) || s[4] != '-' ||
		!read_digits(s + 5, 2, &mon) || s[7] != '-' ||
		!read_digits(s + 8, 2, &mday))
		return false;
	if (pos < len)
	{
		if (s[pos] != 'T' && (strict || (s[pos] != ' ' && s[pos] != 't')))
			return false;
		pos++;
		if (pos + 5 > len || !read_digits(s + pos, 2, &hour) ||
			s[pos + 2] != ':' || !read_digits(s + pos + 3, 2, &min))
			return false;
		pos += 5;
		if (pos < len && s[pos] == ':')
		{
			if (pos + 3 > len || !read_digits(s + pos + 1, 2, &sec))
				return false;
			pos += 3;
			if (pos < len && s[pos] == '.')
			{
				int			ndigits = 0;

				for (pos++; pos < len && isdigit((unsigned char) s[pos]); pos++)
				{
					if (ndigits < 3)
						msec = msec * 10 + (s[pos] - '0');
					ndigits++;
				}
				if (ndigits == 0 || (strict && ndigits > 6))
					return false;
				for (; ndigits < 3; ndigits++)
					msec *= 10;
			}
		}
		else if (strict)
			return false;
		if (pos < len && !strict && (s[pos] == 'Z' || s[pos] == 'z'))
			pos++;
		else if (pos < len && (s[pos] == '+' || s[pos] == '-'))
		{
			int			sign = (s[pos] == '-') ? -1 : 1;
			int			th, tm = 0, ts = 0;

			if (pos + 3 > len || !read_digits(s + pos + 1, 2, &th))
				return false;
			pos += 3;
			if (pos + 3 <= len && s[pos] == ':' && read_digits(s + pos + 1, 2, &tm))
			{
				pos += 3;
				if (pos + 3 <= len && s[pos] == ':' &&
					read_digits(s + pos + 1, 2, &ts))
					pos += 3;
			}
			else if (strict)
				return false;
			else if (pos + 2 <= len && read_digits(s + pos, 2, &tm))
				pos += 2;
			if (th > 15 || tm > 59 || ts > 59)
				return false;
			tz = sign * (th * SECS_PER_HOUR + tm * SECS_PER_MINUTE + ts);
		}
		if (pos != len)
			return false;
	}
	if (year < 1 || mon < 1 || mon > MONTHS_PER_YEAR || mday < 1 ||
		mday > day_tab[isleap(year)][mon - 1] ||
		hour > 23 || min > 59 || sec > 59)
		return false;

	total = (int64) date2j(year, mon, mday) * SECS_PER_DAY +
		hour * SECS_PER_HOUR + min * SECS_PER_MINUTE + sec - tz;
	julian = (int) (total / SECS_PER_DAY);
	total -= (int64) julian * SECS_PER_DAY;
	j2date(julian, &year, &mon, &mday);
	if (year < 1 || year > 9999)
		return false;
	hour = (int) (total / SECS_PER_HOUR);
	min = (int) (total / SECS_PER_MINUTE) % 60;
	sec = (int) (total % SECS_PER_MINUTE);
	snprintf(out, 25, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 year, mon, mday, hour, min, sec, msec);
	return true;
}

/*
 * webflow_value_as_bool reads a boolean from true/false, a string such as
 * t/f/yes/no/on/off/1/0, or the number 1 or 0.
 */
bool
webflow_value_as_bool(JsonbValue *v, bool *result)
{
	char	   *s;
	int			len;

	if (v->type == jbvBool)
	{
		*result = v->val.boolean;
		return true;
	}
	if (v->type != jbvString && v->type != jbvNumeric)
		return false;
	s = webflow_value_as_text(v, &len);
	while (len > 0 && isspace((unsigned char) *s))
		s++, len--;
	while (len > 0 && isspace((unsigned char) s[len - 1]))
		len--;
	return len > 0 && parse_bool_with_len(s, len, result);
}

/*
 * webflow_value_as_text returns a string's contents, a number's text or
 * "true"/"false" (not NUL-terminated for strings), or NULL for other types.
 */
char *
webflow_value_as_text(JsonbValue *v, int *len)
{
	char	   *s;

	switch (v->type)
	{
		case jbvString:
			*len = v->val.string.len;
			return v->val.string.val;
		case jbvNumeric:
			s = DatumGetCString(DirectFunctionCall1(numeric_out,
													NumericGetDatum(v->val.numeric)));
			*len = strlen(s);
			return s;
		case jbvBool:
			s = v->val.boolean ? "true" : "false";
			*len = strlen(s);
			return s;
		default:
			return NULL;
	}
}

/* numeric_syntax_ok says whether s is a plain decimal number. */
static bool
numeric_syntax_ok(const char *s, int len)
{
	int			i = 0;
	int			digits = 0;

	if (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	for (; i < len && isdigit((unsigned char) s[i]); i++)
		digits++;
	if (i < len && s[i] == '.')
		for (i++; i < len && isdigit((unsigned char) s[i]); i++)
			digits++;
	if (digits == 0)
		return false;
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		int			exp_digits = 0;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		for (; i < len && isdigit((unsigned char) s[i]) && exp_digits < 4; i++)
			exp_digits++;
		if (exp_digits == 0)
			return false;
	}
	return i == len;
}

/* webflow_value_as_numeric reads a JSON number or numeric text, or returns NULL. */
Numeric
webflow_value_as_numeric(JsonbValue *v)
{
	char	   *s;
	int			len;

	if (v->type == jbvNumeric)
		return v->val.numeric;
	if (v->type != jbvString)
		return NULL;
	s = v->val.string.val;
	len = v->val.string.len;
	while (len > 0 && isspace((unsigned char) *s))
		s++, len--;
	while (len > 0 && isspace((unsigned char) s[len - 1]))
		len--;
	if (!numeric_syntax_ok(s, len))
		return NULL;
	return DatumGetNumeric(DirectFunctionCall3(numeric_in,
											   CStringGetDatum(pnstrdup(s, len)),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
}

/*
 * webflow_valid_color accepts #RGB, #RGBA, #RRGGBB, #RRGGBBAA, rgb(), rgba(),
 * hsl(), hsla() and the CSS color names, like Webflow does.
 */
bool
webflow_valid_color(const char *s, int len)
{
	int			i;
	const char *p;

	if (len > 0 && s[0] == '#')
	{
		for (i = 1; i < len; i++)
			if (!isxdigit((unsigned char) s[i]))
				return false;
		return len == 4 || len == 5 || len == 7 || len == 9;
	}
	for (i = 0; i < len && isalpha((unsigned char) s[i]); i++)
		;
	if (i < len && s[i] == '(')
	{
		if (!((i == 3 || i == 4) &&
			  (pg_strncasecmp(s, "rgb", 3) == 0 || pg_strncasecmp(s, "hsl", 3) == 0) &&
			  (i == 3 || s[3] == 'a' || s[3] == 'A')) || s[len - 1] != ')')
			return false;
		for (i++; i < len - 1; i++)
			if (!isalnum((unsigned char) s[i]) && strchr(" .%,/+-\t", s[i]) == NULL)
				return false;
		return true;
	}
	if (i != len || len == 0)
		return false;
	for (p = named_colors; (p = strchr(p, ' ')) != NULL && p[1] != '\0'; p++)
	{
		if (pg_strncasecmp(p + 1, s, len) == 0 && p[len + 1] == ' ')
			return true;
	}
	return false;
}

/* webflow_is_object_id says whether s looks like a Webflow object id. */
bool
webflow_is_object_id(const char *s)
{
	int			i;

	for (i = 0; s[i] != '\0'; i++)
	{
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return i == WEBFLOW_ID_LEN;
}
