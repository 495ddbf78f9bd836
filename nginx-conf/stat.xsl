<?xml version="1.0" encoding="utf-8"?>
<!-- ngx-rtmp stat page: renders the XML of `rtmp_stat` (nginx-rtmp-module's layout) as HTML.
     Serve it next to the stat location: location /stat.xsl { root <dir with this file>; } -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="html" encoding="utf-8"/>

<xsl:template match="/rtmp">
<html>
<head>
<title>RTMP statistics</title>
<style>
body { font: 13px sans-serif; margin: 1em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #bbb; padding: 3px 7px; text-align: left; }
th { background: #eee; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.client td { background: #fafafa; font-size: 12px; }
</style>
</head>
<body>
<h1>RTMP statistics</h1>
<p>nginx <xsl:value-of select="nginx_version"/>, module <xsl:value-of select="nginx_rtmp_version"/>,
   up <xsl:call-template name="duration"><xsl:with-param name="s" select="uptime"/></xsl:call-template>,
   <xsl:value-of select="naccepted"/> connections accepted,
   in <xsl:call-template name="rate"><xsl:with-param name="b" select="bw_in"/></xsl:call-template>,
   out <xsl:call-template name="rate"><xsl:with-param name="b" select="bw_out"/></xsl:call-template>
   (answered by worker <xsl:value-of select="pid"/> of <xsl:value-of select="nworkers"/>).</p>
<xsl:for-each select="server">
  <h2>Server <xsl:value-of select="position()"/></h2>
  <table>
    <tr><th>Application / stream</th><th>Clients</th><th>Video</th><th>Audio</th>
        <th>In</th><th>Out</th><th>Bytes in</th><th>Bytes out</th><th>Time</th><th>State</th></tr>
    <xsl:apply-templates select="application"/>
  </table>
</xsl:for-each>
</body>
</html>
</xsl:template>

<xsl:template match="application">
  <tr><th colspan="10"><xsl:value-of select="name"/></th></tr>
  <xsl:for-each select="live/stream">
    <tr>
      <td><xsl:value-of select="name"/></td>
      <td class="n"><xsl:value-of select="nclients"/></td>
      <td><xsl:value-of select="meta/video/codec"/><xsl:text> </xsl:text>
          <xsl:value-of select="meta/video/profile"/><xsl:text> </xsl:text>
          <xsl:if test="meta/video/width"><xsl:value-of select="meta/video/width"/>x<xsl:value-of select="meta/video/height"/>@<xsl:value-of select="meta/video/frame_rate"/></xsl:if></td>
      <td><xsl:value-of select="meta/audio/codec"/><xsl:text> </xsl:text>
          <xsl:value-of select="meta/audio/profile"/><xsl:text> </xsl:text>
          <xsl:if test="meta/audio/sample_rate"><xsl:value-of select="meta/audio/sample_rate"/> Hz</xsl:if></td>
      <td class="n"><xsl:call-template name="rate"><xsl:with-param name="b" select="bw_in"/></xsl:call-template></td>
      <td class="n"><xsl:call-template name="rate"><xsl:with-param name="b" select="bw_out"/></xsl:call-template></td>
      <td class="n"><xsl:value-of select="bytes_in"/></td>
      <td class="n"><xsl:value-of select="bytes_out"/></td>
      <td class="n"><xsl:call-template name="duration"><xsl:with-param name="s" select="floor(time div 1000)"/></xsl:call-template></td>
      <td><xsl:choose><xsl:when test="publishing">live</xsl:when><xsl:otherwise>waiting</xsl:otherwise></xsl:choose></td>
    </tr>
    <!-- A multitrack stream (Enhanced RTMP): one row per track. -->
    <xsl:if test="count(meta/tracks/track) &gt; 1">
      <xsl:for-each select="meta/tracks/track">
        <tr class="track">
          <td>&#160;&#160;track <xsl:value-of select="id"/><xsl:text> </xsl:text><xsl:value-of select="type"/></td>
          <td></td>
          <td colspan="2"><xsl:value-of select="codec"/><xsl:text> </xsl:text>
              <xsl:value-of select="profile"/><xsl:text> </xsl:text>
              <xsl:if test="width"><xsl:value-of select="width"/>x<xsl:value-of select="height"/></xsl:if>
              <xsl:if test="sample_rate"><xsl:value-of select="sample_rate"/> Hz</xsl:if></td>
          <td colspan="6"></td>
        </tr>
      </xsl:for-each>
    </xsl:if>
    <xsl:for-each select="client">
      <tr class="client">
        <td>&#160;&#160;#<xsl:value-of select="id"/><xsl:text> </xsl:text><xsl:value-of select="address"/></td>
        <td><xsl:choose><xsl:when test="publishing">publisher</xsl:when><xsl:otherwise>player</xsl:otherwise></xsl:choose>
          <xsl:text> </xsl:text><xsl:choose><xsl:when test="protocol"><xsl:value-of select="protocol"/></xsl:when><xsl:otherwise>rtmp</xsl:otherwise></xsl:choose></td>
        <td colspan="2"><xsl:value-of select="flashver"/></td>
        <td class="n" colspan="2">dropped <xsl:value-of select="dropped"/></td>
        <td class="n"><xsl:value-of select="bytes_in"/></td>
        <td class="n"><xsl:value-of select="bytes_out"/></td>
        <td class="n"><xsl:call-template name="duration"><xsl:with-param name="s" select="floor(time div 1000)"/></xsl:call-template></td>
        <td><xsl:if test="active">active</xsl:if></td>
      </tr>
    </xsl:for-each>
    <xsl:for-each select="recorders/recorder">
      <tr class="client">
        <td>&#160;&#160;recorder <xsl:value-of select="id"/></td>
        <td><xsl:choose><xsl:when test="recording">recording</xsl:when><xsl:when test="failed">failed</xsl:when><xsl:otherwise>idle</xsl:otherwise></xsl:choose></td>
        <td colspan="4"><xsl:value-of select="path"/></td>
        <td class="n"><xsl:value-of select="bytes"/></td>
        <td class="n"><xsl:value-of select="files"/> done</td>
        <td class="n"><xsl:call-template name="duration"><xsl:with-param name="s" select="floor(duration div 1000)"/></xsl:call-template></td>
        <td><xsl:if test="manual">manual<xsl:if test="started"> started</xsl:if></xsl:if></td>
      </tr>
    </xsl:for-each>
    <xsl:for-each select="relays/relay">
      <tr class="client">
        <td>&#160;&#160;<xsl:value-of select="kind"/><xsl:text> </xsl:text><xsl:value-of select="addr"/></td>
        <td><xsl:value-of select="state"/></td>
        <td colspan="2"><xsl:value-of select="url"/></td>
        <td colspan="2">reconnects <xsl:value-of select="reconnects"/><xsl:if test="string(last_error)"><xsl:text>, </xsl:text><xsl:value-of select="last_error"/></xsl:if></td>
        <td class="n"><xsl:value-of select="bytes_in"/></td>
        <td class="n"><xsl:value-of select="bytes_out"/></td>
        <td class="n"><xsl:call-template name="duration"><xsl:with-param name="s" select="floor(time div 1000)"/></xsl:call-template></td>
        <td>worker <xsl:value-of select="pid"/></td>
      </tr>
    </xsl:for-each>
  </xsl:for-each>
</xsl:template>

<xsl:template name="rate">
  <xsl:param name="b"/>
  <xsl:choose>
    <xsl:when test="$b &gt;= 1000000"><xsl:value-of select="format-number($b div 1000000, '0.00')"/> Mb/s</xsl:when>
    <xsl:when test="$b &gt;= 1000"><xsl:value-of select="format-number($b div 1000, '0')"/> kb/s</xsl:when>
    <xsl:otherwise><xsl:value-of select="$b"/> b/s</xsl:otherwise>
  </xsl:choose>
</xsl:template>

<xsl:template name="duration">
  <xsl:param name="s"/>
  <xsl:variable name="h" select="floor($s div 3600)"/>
  <xsl:variable name="m" select="floor(($s mod 3600) div 60)"/>
  <xsl:if test="$h &gt; 0"><xsl:value-of select="$h"/>h </xsl:if>
  <xsl:if test="$h &gt; 0 or $m &gt; 0"><xsl:value-of select="$m"/>m </xsl:if>
  <xsl:value-of select="$s mod 60"/>s
</xsl:template>

</xsl:stylesheet>
