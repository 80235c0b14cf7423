# t/LostCreateAttack.pm: the frame the lost-create attack suites (t/105,
# t/106) share: a node with the worker off (every pass is a drain(), so
# that lost answers, table changes and passes come in a set order), tables
# bound to collections of the fake, creates and updates whose answers are
# lost, the Designer's edits, and the verdict of an attempt from what a
# visitor sees (all pages of the live items) against the table.
package LostCreateAttack;

use strict;
use warnings;
use Exporter 'import';
use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);
use WebflowTest;

our @EXPORT = qw(
  lca_start sql coll table lose lose_update drain_pass maybe_sent designer
  item_by settle dump_state verdict attempt skip_attempts attempt_seq
);

my $T = JSON::PP::true;
my ($node, $only, $coll_slug, $coll_name);
my $seq0 = 0;
my $n    = 0;

# lca_start(NODE_NAME, COLLECTION_SLUG, COLLECTION_NAME, ONLY_VARIABLE):
# starts the fake and the node; the attempts whose label does not match
# the regex in environment variable ONLY_VARIABLE are left out
sub lca_start
{
	my ($name, $slug, $cname, $only_var) = @_;
	($coll_slug, $coll_name) = ($slug, $cname);
	$only = $ENV{$only_var} // '.';
	start_fake();
	$node = new_node($name,
		'webflow.worker_enabled'  => 'off',
		'webflow.timeout'         => "'2s'",
		'webflow.connect_timeout' => "'1s'",
		'webflow.max_attempts'    => 8,
		'webflow.rate_limit'      => 100000);
	return $node;
}

# sql(QUERY): its result, in database postgres
sub sql { return $node->safe_psql('postgres', $_[0]); }

# coll(): a new collection of the fake
sub coll { return fake_collection($coll_slug, $coll_name); }

# table(NAME, COLLECTION, EXTRA_COLUMNS): a table bound to the collection
sub table
{
	my ($t, $c, $extra) = @_;
	sql(qq{CREATE TABLE $t (id int PRIMARY KEY, name text NOT NULL, description text}
		  . ($extra ? ", $extra" : '') . qq{); SELECT webflow.bind('$t', '$c');});
}

# lose(COLLECTION, FAULT...): the next create of the collection is carried
# out by Webflow and its answer lost (a dropped connection by default)
sub lose
{
	my ($c, %f) = @_;
	%f = (drop => $T) unless %f;
	fake_fault({ match => { method => 'POST', path => "^/v2/collections/$c/items(/live)?\$" },
			process => $T, count => 1, %f });
}

# lose_update(COLLECTION, FAULT...): the same for the next update
sub lose_update
{
	my ($c, %f) = @_;
	%f = (drop => $T) unless %f;
	fake_fault({ match => { method => 'PATCH', path => "^/v2/collections/$c/items(/live)?\$" },
			process => $T, count => 1, %f });
}

# drain_pass(): one pass, what drain() returns
sub drain_pass { return sql('SELECT webflow.drain()'); }

# maybe_sent(): how many outbox rows are marked maybe sent
sub maybe_sent { return sql(q{SELECT count(*) FROM webflow.outbox WHERE maybe_sent}); }

# designer(METHOD, COLLECTION, ITEM_ID, BODY, LIVE): an edit made in the
# Designer; its HTTP status
sub designer
{
	my ($m, $c, $id, $body, $live) = @_;
	my ($st) = fake_api($m, "/collections/$c/items/$id" . ($live ? '/live' : ''), $body, actor => 'designer');
	return $st;
}

# item_by(COLLECTION, FIELD, VALUE): the fake's item whose (staged) field is VALUE
sub item_by
{
	my ($c, $f, $v) = @_;
	my @i = grep { ($_->{fieldData}{$f} // '') eq $v } @{ fake_items($c) };
	return $i[0];
}

# settle(TABLE): passes (each after webflow.retry(false), which makes
# waiting rows due now) until nothing of the table is queued, at most 60
# passes / 20 s; whether the queue emptied
sub settle
{
	my ($t) = @_;
	my $t0 = time;
	my $q = qq{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	           WHERE b.source = '$t'::regclass};
	for (1 .. 60)
	{
		return 1 if sql($q) eq '0';
		last if time - $t0 > 20;
		fake_clear_faults();
		sql('SELECT webflow.retry(false)');
		# (nothing done, or another pass holds the drain lock: wait a little)
		sleep(0.2) if drain_pass() <= 0;
	}
	return sql($q) eq '0';
}

# dump_state(TABLE, COLLECTION): what an attempt that failed left behind
# (each line cut short: a 600-row table says enough in 3,000 characters)
sub dump_state
{
	my ($t, $c) = @_;
	my $say = sub { diag(length($_[0]) > 3000 ? substr($_[0], 0, 3000) . ' ...' : $_[0]) };
	$say->("table: " . sql(qq{SELECT string_agg(id || '=' || name, ', ' ORDER BY id) FROM $t}));
	$say->("live:  " . join(', ', map { "$_->{fieldData}{name}/$_->{fieldData}{slug}" } @{ fake_pages($c) }));
	$say->("items: " . join(', ', map { "$_->{id}:$_->{fieldData}{name}/$_->{fieldData}{slug}" . ($_->{isLive} ? '' : '(draft)') } @{ fake_items($c) }));
	$say->("map:   " . sql(qq{SELECT string_agg(source_key || '->' || item_id || '/' || coalesce(slug, '?'), ', ') FROM webflow.items WHERE collection_id = '$c'}));
	$say->("requests:\n" . join("\n", map { sprintf('  %s %s %s?%s %s%s%s', $_->{seq}, $_->{method}, $_->{path}, $_->{query_string} // '',
		$_->{status} // 'dropped', $_->{fault} ? " fault=$_->{fault}" : '',
		$_->{body} ? ' ' . substr(JSON::PP->new->canonical->encode($_->{body}), 0, 300) : '') }
		grep { !$_->{actor} } @{ fake_log($seq0) }));
	$say->("outbox: " . sql(qq{SELECT string_agg(format('%s %s %s %s ms=%s att=%s err=%s', o.id, o.row_key, o.op, o.state, o.maybe_sent, o.attempts, left(o.last_error, 300)), E'\n' ORDER BY o.id) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id WHERE b.source = '$t'::regclass}));
}

# verdict(TABLE, COLLECTION): settles and judges the attempt; the table is
# unbound after it (its queued changes go: the next attempt starts with an
# empty queue)
sub verdict
{
	my ($t, $c) = @_;
	my $drained = settle($t);
	my ($ok, $d) = site_matches_on($node, $t, $c);
	ok($drained, "the queue drained (nothing pending or failed)");
	ok($ok, "the live site equals the table: $d");
	dump_state($t, $c) unless $ok && $drained;
	sql(qq{SELECT webflow.unbind('$t')});
	return $ok && $drained;
}

# attempt(NAME, CODE): the next attempt, a subtest "attempt N: NAME"
sub attempt
{
	my ($name, $code) = @_;
	$n++;
	my $label = "attempt $n: $name";
	return unless $label =~ /$only/;
	fake_clear_faults();
	$seq0 = fake_log_seq();
	subtest $label => $code;
}

# skip_attempts(K): the next K numbers belong to attempts kept elsewhere
sub skip_attempts { $n += $_[0]; }

# attempt_seq(): the fake's last logged request when the attempt began
sub attempt_seq { return $seq0; }

1;
